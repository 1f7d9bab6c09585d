#!/bin/sh
# Entrypoint of the postgres stand-in image: the part of the official image's behaviour that
# TSBank's docker-compose.yml uses. On the first start (an empty PGDATA) it initializes the
# cluster with POSTGRES_USER / POSTGRES_PASSWORD (password authentication over TCP), runs the
# *.sql files of /docker-entrypoint-initdb.d, then runs postgres as the postgres user.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${PGDATA:=/var/lib/postgresql/data}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "postgres: POSTGRES_PASSWORD is not set: set it (the server accepts password logins only)" >&2
  exit 1
fi
if [ "$1" = "postgres" ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    su postgres -c "initdb -D '$PGDATA' -U '$POSTGRES_USER' --pwfile='$pwfile' -A scram-sha-256 -E UTF8 --locale=C.UTF-8" >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    su postgres -c "pg_ctl -D '$PGDATA' -o \"-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql\" -w start" >/dev/null
    for f in /docker-entrypoint-initdb.d/*.sql; do
      [ -e "$f" ] || continue
      echo "postgres: running $f"
      PGPASSWORD="$POSTGRES_PASSWORD" su postgres -c "psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U '$POSTGRES_USER' -d postgres -f '$f'" >/dev/null
    done
    su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
  fi
  # setpriv execs postgres itself as PID 1, so docker stop's signal reaches it.
  exec setpriv --reuid=postgres --regid=postgres --init-groups \
    postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
fi
exec "$@"
