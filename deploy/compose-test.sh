#!/usr/bin/env bash
# The compose test: builds the images (with stand-ins for third-party ones), starts the real
# docker-compose.yml, and uses the bank from the host the way the README says, with the nats CLI
# (natscli v0.5.0, built from its Go module) and psql. It kills an account node's container and
# checks that nothing was lost; then it starts the stack again with NATS as a three-server cluster
# and kills one server. The stack is removed at the end, whatever happened.
set -uo pipefail
cd "$(dirname "$0")/.."
project=tsbank-compose-test
pass=0 fail=0
check() { # check NAME COMMAND...: runs the command, counts the outcome
  local name=$1; shift
  if out=$("$@" 2>&1); then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); echo "FAIL $name"; echo "$out" | tail -15 | sed 's/^/     /'
  fi
}
eventually() { # eventually SECONDS COMMAND...: retries the command until it succeeds
  local until=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $until ] || return 1; sleep 0.5; done
}

if command -v docker-compose >/dev/null; then compose=(docker-compose); else compose=(docker compose); fi
mkdir -p bin
if [ ! -x bin/nats ]; then
  echo "== building the nats CLI (natscli v0.5.0)"
  GOBIN=$PWD/bin go install github.com/nats-io/natscli/nats@v0.5.0 || exit 1
fi
command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }

echo "== building images"
bash deploy/build-images.sh || exit 1

# Fresh passwords for this run, in an env file of its own.
env_file=$(mktemp)
for v in POSTGRES ACCOUNT_DB COORDINATOR_DB HISTORY_DB ACCOUNT COORDINATOR HISTORY OPERATOR ALICE BOB; do echo "${v}_PASSWORD=$v-$RANDOM$RANDOM"; done >"$env_file"
echo "CURSOR_SECRET=cursor-$RANDOM$RANDOM" >>"$env_file"
go run ./cmd/tsbankctl keygen >>"$env_file" || exit 1 # a fresh coordinator signing key
set -a; . "$env_file"; set +a
dc() { "${compose[@]}" --env-file "$env_file" -p "$project" "$@"; }
cleanup() { dc down -v --remove-orphans >/dev/null 2>&1; rm -f "$env_file"; }
trap cleanup EXIT

healthy() { # every long-running container of the project is healthy
  local s
  s=$(docker ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Status}}' | grep -v migrate)
  [ -n "$s" ] && ! echo "$s" | grep -qv '(healthy)'
}

echo "== docker-compose up"
start=$SECONDS
t0=$(date +%s%N)
dc up -d >/dev/null 2>&1 || { dc logs --tail 30; exit 1; }
check "every container healthy within 60 s" eventually 60 healthy
echo "     up to healthy: $(( ($(date +%s%N) - t0) / 1000000 )) ms"

N="bin/nats -s nats://127.0.0.1:4222"
as() { local who=$1; shift; local pw="${who^^}_PASSWORD"; $N --user "$who" --password "${!pw}" --inbox-prefix "_INBOX_$who" "$@"; }
op() { $N --user operator --password "$OPERATOR_PASSWORD" "$@"; }
has() { # has TEXT COMMAND...: the command's output contains TEXT (else it is shown)
  local text=$1 out; shift
  out=$("$@" 2>&1)
  grep -qF -- "$text" <<<"$out" || { echo "$out"; return 1; }
}
sql() { PGPASSWORD=$POSTGRES_PASSWORD psql -h 127.0.0.1 -U tsbank -d "$1" -tAc "$2"; }
rows_are() { [ "$(sql tsbank_history "select count(*) from transactions where account in ('alice', 'bob')")" = "$1" ]; }

check "nats micro ls shows the services" bash -c "$(declare -f op); N='$N'; OPERATOR_PASSWORD='$OPERATOR_PASSWORD'; out=\$(op micro ls 2>&1); for s in account coordinator history; do echo \"\$out\" | grep -q \$s || exit 1; done"
check "the demo opens accounts on both nodes and transfers" has 'alice on account-1  balance   327.30' dc run --rm demo
check "alice's account is on account-1 (a retried open)" has '"node":"account-1"' as alice req bank.account.alice.open '{"id":"demo-open","currency":"EUR","node":"account-1"}'
check "alice deposits" has '"balance_after":"427.30"' as alice req bank.account.alice.deposit '{"id":"d-1","amount":"100.00","description":"bonus"}'
check "alice pays bob across nodes" has '"status":"committed"' as alice req bank.transfer.alice '{"id":"t-1","to":"bob","amount":"30.00","description":"rent"}'
check "alice reads her balance" has '"balance":"397.30"' as alice req bank.account.alice.balance ''
check "bob reads his balance" has '"balance":"364.50"' as bob req bank.account.bob.balance ''
check "alice reads her history as a table" eventually 10 has 'net 397.30' as alice req bank.history.alice.query '{"format":"table"}'
check "psql sees the rows" eventually 10 rows_are 11
check "alice is denied bob's account" has 'Permissions Violation for Publish to "bank.account.bob.balance"' as alice req --timeout 1s bank.account.bob.balance ''
check "alice is denied paying from bob's account" has 'Permissions Violation' as alice req --timeout 1s bank.transfer.bob '{"id":"x","to":"alice","amount":"1"}'
check "each service's database role reaches only its own data" bash -c "PGPASSWORD='$HISTORY_DB_PASSWORD' psql -h 127.0.0.1 -U tsbank_history -d tsbank_account_1 -c 'select 1' 2>&1 | grep -q 'permission denied for database' && PGPASSWORD='$HISTORY_DB_PASSWORD' psql -h 127.0.0.1 -U tsbank_history -d tsbank_history -tAc 'select count(*) >= 0 from transactions' | grep -q t"
check "a wrong password is refused" has 'Authorization Violation' $N --user alice --password wrong req bank.account.alice.balance ''

# account-1 runs as two processes; kill the one holding the lease (its /readyz answers 200).
serving=account-1
docker exec "$(dc ps -q account-1)" /account healthcheck >/dev/null 2>&1 || serving=account-1-standby
echo "== killing $serving, which serves account-1 (the other process takes over)"
docker kill "$(dc ps -q $serving)" >/dev/null
t0=$(date +%s%N)
check "the standby serves account-1 within 10 s" eventually 10 has '"balance":"397.30"' as alice req --timeout 1s bank.account.alice.balance ''
echo "     take-over: $(( ($(date +%s%N) - t0) / 1000000 )) ms after the SIGKILL"
dc start "$serving" >/dev/null 2>&1
check "the killed process is back, as the standby" eventually 60 healthy
check "a transfer after the restart commits" has '"status":"committed"' as bob req bank.transfer.bob '{"id":"t-2","to":"alice","amount":"5.00"}'
check "psql has every event once" eventually 10 rows_are 13
check "reconciliation finds no difference" eventually 10 has '"differences":[]' op req bank.history.reconcile ''

echo "== the NATS cluster: docker-compose.cluster.yml laid over docker-compose.yml"
dc down -v >/dev/null 2>&1
export COMPOSE_FILE=docker-compose.yml:docker-compose.cluster.yml # the trap's down uses it too
t0=$(date +%s%N)
dc up -d >/dev/null 2>&1 || { dc logs --tail 30; exit 1; }
check "every container of the cluster stack healthy within 90 s" eventually 90 healthy
echo "     up to healthy: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
no_restarts() { # no container of the project was restarted (a service that gave up at start would be)
  docker inspect -f '{{.Name}} {{.RestartCount}}' $(dc ps -q) | awk '$2 != 0 {print; bad=1} END {exit bad}'
}
check "no service restarted while the cluster formed" no_restarts
check "the demo runs on the cluster" has 'alice on account-1  balance   327.30' dc run --rm demo
check "the events stream is replicated on three servers" has 'Replicas: 3' op stream info TSBANK_EVENTS
echo "== killing nats-2"
docker kill "$(dc ps -q nats-2)" >/dev/null
check "a transfer commits while nats-2 is down" eventually 20 has '"status":"committed"' as alice req --timeout 3s bank.transfer.alice '{"id":"t-c1","to":"bob","amount":"1.00"}'
dc start nats-2 >/dev/null 2>&1
check "nats-2 rejoins" eventually 60 healthy
check "reconciliation on the cluster finds no difference" eventually 20 has '"differences":[]' op req bank.history.reconcile ''

echo "== image sizes"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^tsbank/' | sed 's/^/     /'
echo "compose test took $((SECONDS - start)) s"
echo "compose: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
