#!/usr/bin/env bash
# Builds, under the same names, local stand-ins for the third-party images that the Dockerfile and
# docker-compose.yml name, when the engine does not have them (this machine has no registry):
#
#   golang:1.26-bookworm   a Debian bookworm root file system with this machine's Go toolchain
#   postgres:15-bookworm   Debian's PostgreSQL 15, with an entrypoint that honours what the official
#                          image does and docker-compose.yml relies on: POSTGRES_USER,
#                          POSTGRES_PASSWORD, PGDATA, the *.sql scripts in
#                          /docker-entrypoint-initdb.d on first start, and pg_isready
#   prom/prometheus:v2.42.0  Debian's prometheus package (2.42.0, bookworm's), started as the
#                          official image starts: /etc/prometheus/prometheus.yml, data in
#                          /prometheus, as an unprivileged user
#
# The root file system comes from debootstrap, from the Debian mirror apt on this machine uses.
# An image that exists already is left alone. Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GO_IMAGE=golang:1.26-bookworm
PG_IMAGE=postgres:15-bookworm
PROM_IMAGE=prom/prometheus:v2.42.0

missing() { ! docker image inspect "$1" >/dev/null 2>&1; }

if ! missing "$GO_IMAGE" && ! missing "$PG_IMAGE" && ! missing "$PROM_IMAGE"; then
  echo "stand-ins: $GO_IMAGE, $PG_IMAGE and $PROM_IMAGE are present"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
# The mirror apt is configured with (deb822 or one-line sources), so no host name lives here.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
fi
[ -n "$mirror" ] || { echo "stand-ins: no Debian mirror in apt's sources" >&2; exit 1; }

work=$(mktemp -d /var/tmp/tsbank-standins.XXXXXX)
trap 'umount -l "$work/rootfs/proc" "$work/prom/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "stand-ins: debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; exit 1; }

if missing "$GO_IMAGE"; then
  echo "stand-ins: $GO_IMAGE (Go $(go env GOVERSION) from this machine)"
  cp -a "$work/rootfs" "$work/go"
  cp -a "$(go env GOROOT)" "$work/go/usr/local/go"
  tar -C "$work/go" -c . | docker import \
    --change 'ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV GOPATH=/go' --change 'WORKDIR /go' - "$GO_IMAGE" >/dev/null
fi

# Before the Postgres stand-in, which installs into the root file system itself.
if missing "$PROM_IMAGE"; then
  echo "stand-ins: $PROM_IMAGE (Debian's prometheus)"
  prom="$work/prom"
  cp -a "$work/rootfs" "$prom"
  mount -t proc proc "$prom/proc"
  # No service may start inside the chroot (the package's scripts would start Prometheus on the
  # host's network): policy-rc.d refuses, as in Debian's own container images, until removed.
  printf '#!/bin/sh\nexit 101\n' >"$prom/usr/sbin/policy-rc.d"
  chmod 0755 "$prom/usr/sbin/policy-rc.d"
  chroot "$prom" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus && apt-get clean && rm -rf /var/lib/apt/lists/*' >"$work/prometheus.log" 2>&1 ||
    { tail -20 "$work/prometheus.log"; exit 1; }
  umount "$prom/proc"
  rm "$prom/usr/sbin/policy-rc.d"
  mkdir -p "$prom/prometheus"
  chroot "$prom" chown prometheus:prometheus /prometheus
  tar -C "$prom" -c . | docker import \
    --change 'USER prometheus' --change 'WORKDIR /prometheus' --change 'EXPOSE 9090' \
    --change 'ENTRYPOINT ["/usr/bin/prometheus"]' \
    --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
    - "$PROM_IMAGE" >/dev/null
fi

if missing "$PG_IMAGE"; then
  echo "stand-ins: $PG_IMAGE (Debian's postgresql-15)"
  pg="$work/rootfs"
  mount -t proc proc "$pg/proc"
  # The entrypoint makes the cluster in PGDATA; the package's own default cluster is not wanted.
  mkdir -p "$pg/etc/postgresql-common/createcluster.d"
  echo "create_main_cluster = false" >"$pg/etc/postgresql-common/createcluster.d/tsbank.conf"
  # apt in a chroot warns that there is no init system and no apt-utils: harmless, and only shown
  # if the install fails.
  chroot "$pg" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 && apt-get clean && rm -rf /var/lib/apt/lists/*' >"$work/postgres.log" 2>&1 ||
    { tail -20 "$work/postgres.log"; exit 1; }
  umount "$pg/proc"
  install -m 0755 "$here/postgres-entrypoint.sh" "$pg/usr/local/bin/docker-entrypoint.sh"
  mkdir -p "$pg/docker-entrypoint-initdb.d" "$pg/var/run/postgresql"
  chroot "$pg" chown postgres:postgres /var/run/postgresql
  tar -C "$pg" -c . | docker import \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' --change 'EXPOSE 5432' - "$PG_IMAGE" >/dev/null
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(golang|postgres|prom/prometheus):"
