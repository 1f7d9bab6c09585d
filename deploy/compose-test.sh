#!/usr/bin/env bash
# The compose test: builds the images (with stand-ins for third-party ones), starts the real
# docker-compose.yml with fresh secrets from `tsbankctl secrets`, and uses the bank from the host
# the way the README says, with the nats CLI (natscli v0.5.0, built from its Go module) and psql:
# the demo as the operator, customers logged in by the auth callout (one of them added while the
# bank runs), their denials, a teller's deposit, the closed-by-default ports and database roles,
# and a placeholder secret refused. It kills an account node's container and checks that nothing
# was lost; then it starts the stack again with NATS as a three-server cluster and kills one
# server. Both stacks run with the `observability` profile: Prometheus must scrape every service
# and every NATS server, and answer every query of the Grafana dashboards. The stack is removed at
# the end, whatever happened.
set -uo pipefail
cd "$(dirname "$0")/.."
begin=$SECONDS
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
# The defaults are under test: closed ports (TSBANK_BIND unset) and the single-server file first.
unset TSBANK_BIND COMPOSE_FILE
# Prometheus too, for every docker-compose command of the run (the trap's down included).
export COMPOSE_PROFILES=observability
mkdir -p bin
if [ ! -x bin/nats ]; then
  echo "== building the nats CLI (natscli v0.5.0)"
  GOBIN=$PWD/bin go install github.com/nats-io/natscli/nats@v0.5.0 || exit 1
fi
command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }

# Fresh secrets for this run, in an env file of its own, made the way deploy/secrets.sh makes .env;
# the nats CLI's contexts in a directory of their own.
env_file=$(mktemp)
natsconfig=$(mktemp -d)
cleanup() { dc down -v --remove-orphans >/dev/null 2>&1; rm -rf "$env_file" "$natsconfig"; }
dc() { "${compose[@]}" --env-file "$env_file" -p "$project" "$@"; }
trap cleanup EXIT
go run ./cmd/tsbankctl secrets >"$env_file" || exit 1
set -a; . "$env_file"; set +a
CAROL_PASSWORD=carol-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n') # added at run time, below
declare -A password=([alice]=$DEMO_ALICE_PASSWORD [bob]=$DEMO_BOB_PASSWORD [carol]=$CAROL_PASSWORD)

echo "== building images"
t0=$SECONDS
bash deploy/build-images.sh || exit 1
echo "     images built in $((SECONDS - t0)) s"
stale_images() { # no image a rebuild replaced, and at most one build stage (the next build's cache)
  local build service
  build=$(docker images -q -f dangling=true -f label=tsbank.stage=build | wc -l)
  service=$(docker images -q -f dangling=true -f label=tsbank.stage=service | wc -l)
  [ "$build" -le 1 ] && [ "$service" -eq 0 ] || { echo "$build build stages, $service replaced images left untagged"; docker images -f dangling=true; return 1; }
}

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
# A customer, logged in by the auth callout, with their own inbox prefix.
as() { local who=$1; shift; $N --user "$who" --password "${password[$who]}" --inbox-prefix "_INBOX_$who" "$@"; }
op() { $N --user operator --password "$OPERATOR_PASSWORD" "$@"; }
has() { # has TEXT COMMAND...: the command's output contains TEXT (else it is shown)
  local text=$1 out; shift
  out=$("$@" 2>&1)
  grep -qF -- "$text" <<<"$out" || { echo "$out"; return 1; }
}
fails_with() { # fails_with TEXT COMMAND...: the command fails, and its output contains TEXT
  local text=$1 out; shift
  if out=$("$@" 2>&1); then echo "it did not fail:"; echo "$out"; return 1; fi
  grep -qF -- "$text" <<<"$out" || { echo "$out"; return 1; }
}
sql() { PGPASSWORD=$POSTGRES_PASSWORD psql -h 127.0.0.1 -U tsbank -d "$1" -tAc "$2"; }
rows_are() { [ "$(sql tsbank_history "select count(*) from transactions where account in ('alice', 'bob')")" = "$1" ]; }
micro_ls() { local out; out=$(op micro ls 2>&1); for s in account coordinator history customers; do grep -qw "$s" <<<"$out" || { echo "$out"; return 1; }; done; }
db_denied() { # db_denied ROLE PASSWORD DATABASE: the role may not connect to the database
  local out
  out=$(PGPASSWORD=$2 psql -h 127.0.0.1 -U "$1" -d "$3" -tAc 'select 1' 2>&1) && { echo "$1 reached $3"; return 1; }
  grep -q 'permission denied for database' <<<"$out" || { echo "$out"; return 1; }
}
db_own() { PGPASSWORD=$2 psql -h 127.0.0.1 -U "$1" -d "$3" -tAc "select count(*) >= 0 from $4" | grep -qx t; }
loopback() { # loopback SERVICE PORT HOSTPORT: the container's port is published on 127.0.0.1:HOSTPORT only
  local out
  out=$(docker port "$(dc ps -q "$1")" "$2" 2>&1)
  [ "$out" = "127.0.0.1:$3" ] || { echo "docker port $1 $2: $out"; return 1; }
}
all_loopback() { # no port of any container of the project is published beyond 127.0.0.1
  local c out=""
  for c in $(docker ps --filter "label=com.docker.compose.project=$project" -q); do out+=$(docker port "$c")$'\n'; done
  grep -q . <<<"$out" || { echo "no published port"; return 1; }
  if grep -v -e '^$' -e '-> 127\.0\.0\.1:' <<<"$out"; then return 1; fi
}
targets_up() { # targets_up N: Prometheus scrapes N targets, and the last scrape of each succeeded
  local out
  out=$(curl -sf http://127.0.0.1:9090/api/v1/targets) || { echo "Prometheus does not answer"; return 1; }
  jq -e --argjson n "$1" '(.data.activeTargets | length) == $n and all(.data.activeTargets[]; .health == "up")' <<<"$out" >/dev/null ||
    { jq -r '.data.activeTargets[] | "\(.labels.instance) \(.health) \(.lastError)"' <<<"$out"; return 1; }
}
promql() { curl -sf http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1"; }
dashboards_answer() { # every query of every dashboard is valid PromQL that Prometheus evaluates
  local expr bad=0
  while IFS= read -r expr; do
    promql "$expr" | jq -e '.status == "success"' >/dev/null || { echo "refused: $expr"; bad=1; }
  done < <(jq -r '.. | .expr? // empty' deploy/grafana/*.json)
  return $bad
}
starts() { # the start time and restart count of every container of the project
  docker inspect -f '{{.Name}} {{.RestartCount}} {{.State.StartedAt}}' $(dc ps -q) | sort
}

check "nats micro ls shows the services, the auth service's customer directory too" micro_ls
migrated_at() { docker inspect -f '{{.State.StartedAt}}' "$(dc ps -q migrate)"; }
migrated=$(migrated_at)
check "the demo adds alice and bob, opens accounts on both nodes and transfers" has 'alice  on account-1  balance   307.30 EUR' dc run --rm -T demo
check "running the demo did not run the migrate job again" eval '[ "$(migrated_at)" = "$migrated" ]'
check "the image build left no stale image behind" stale_images
# Three account processes, the coordinator, the history, two auth instances, NATS and Prometheus.
check "Prometheus scrapes all 10 targets and every one is up" eventually 30 targets_up 10
check "Prometheus has the demo's committed transfers" eventually 20 has '"value"' promql 'sum(tsbank_transfers_total{outcome="committed"}) > 0'
check "Prometheus has the NATS server's events stream" eventually 20 has '"TSBANK_EVENTS"' promql 'jetstream_stream_total_messages'
check "every Grafana dashboard query is answered" dashboards_answer
check "the demo added alice and bob as customers" has '"accounts":["bob"]' op req bank.customers.get '{"customer":"bob"}'
check "a second demo run succeeds and changes nothing" has 'customer alice exists already' dc run --rm -T demo
check "the nats CLI reads the bank's counters: the demo's 4 committed transfers and its exchange, whose two debit legs count as two, today" eventually 15 has '{"val":"6"}' op stream get TSBANK_COUNTERS --last-for "bank.counters.$(date -u +%F).transfers"
# The Observer, as an operator's browser shows it: chromium (which scripts/test installs) runs the
# page's script, which draws a card per node.
page() {
  command -v chromium >/dev/null || { echo "chromium is not installed: apt-get install -y chromium"; return 1; }
  chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --dump-dom --virtual-time-budget=1500 \
    --user-data-dir="$(mktemp -d)" http://127.0.0.1:8090/ 2>/dev/null
}
check "the Observer's page shows account-2 up" eventually 20 has 'data-node="account-2" data-state="up"' page
check "bank.overview answers the operator with both nodes live" eventually 10 has '"name":"account-2","live":true' op req bank.overview ''
check "alice's account is on account-1 (a retried open, as alice)" has '"node":"account-1"' as alice req bank.account.alice.open '{"id":"demo-open","currency":"EUR","node":"account-1"}'
check "a teller deposits into alice's account" has '"balance_after":"407.30"' op req bank.account.alice.deposit '{"id":"d-1","amount":"100.00","description":"bonus"}'
check "alice pays bob across nodes" has '"status":"committed"' as alice req bank.transfer.alice '{"id":"t-1","to":"bob","amount":"30.00","description":"rent"}'
check "alice reads her balance" has '"balance":"377.30"' as alice req bank.account.alice.balance ''
check "bob reads his balance" has '"balance":"364.50"' as bob req bank.account.bob.balance ''
check "alice reads her history as a table" eventually 10 has 'net 377.30' as alice req bank.history.alice.query '{"format":"table"}'
check "psql sees the rows" eventually 10 rows_are 12
check "alice is denied bob's account" has 'Permissions Violation for Publish to "bank.account.bob.balance"' as alice req --timeout 1s bank.account.bob.balance ''
XDG_CONFIG_HOME=$natsconfig bin/nats context save alice --server nats://127.0.0.1:4222 --user alice \
  --password "$DEMO_ALICE_PASSWORD" --inbox-prefix _INBOX_alice >/dev/null
check "nats --context alice: bob's balance is refused" has 'Permissions Violation for Publish to "bank.account.bob.balance"' env XDG_CONFIG_HOME="$natsconfig" bin/nats --context alice req --timeout 1s bank.account.bob.balance ''
check "alice is denied paying from bob's account" has 'Permissions Violation' as alice req --timeout 1s bank.transfer.bob '{"id":"x","to":"alice","amount":"1"}'
check "alice may not deposit (a teller's request)" has 'Permissions Violation for Publish to "bank.account.alice.deposit"' as alice req --timeout 1s bank.account.alice.deposit '{"id":"d-x","amount":"1000.00"}'
check "alice may not set her own overdraft limit" has 'Permissions Violation' as alice req --timeout 1s bank.account.alice.limit '{"id":"l-x","overdraft_limit":"1000.00"}'
check "an open with an overdraft_limit is refused" has 'overdraft_limit is not accepted' as alice req --timeout 2s bank.account.alice.open '{"id":"o-od","currency":"EUR","overdraft_limit":"1000.00"}'
check "a wrong password is refused" has 'Authorization Violation' $N --user alice --password wrong-password req bank.account.alice.balance ''
check "an unknown customer is refused" has 'Authorization Violation' $N --user mallory --password mallory-password req bank.account.mallory.balance ''

echo "== a customer added while the bank runs"
before=$(starts)
check "the operator adds carol with tsbankctl customer add" has 'customer carol added with accounts carol-savings' \
  dc run --rm -T --no-deps -e CUSTOMER_PASSWORD="$CAROL_PASSWORD" migrate customer add carol carol-savings
check "carol logs in and sees only her accounts" has '"accounts":["carol-savings"]' as carol req --timeout 2s bank.customer.carol.accounts ''
check "carol opens her account" has '"id":"carol-savings"' as carol req --timeout 2s bank.account.carol-savings.open '{"id":"o-1","currency":"EUR"}'
# Money comes in through a teller: the operator deposits, the customer sees it.
carol_deposit() { op req bank.account.carol-savings.deposit '{"id":"d-1","amount":"20.00"}' >/dev/null 2>&1 && has '"balance":"20.00"' as carol req --timeout 2s bank.account.carol-savings.balance ''; }
check "a teller deposits into carol's account, and carol sees it" carol_deposit
check "carol is denied alice's balance" has 'Permissions Violation for Publish to "bank.account.alice.balance"' as carol req --timeout 1s bank.account.alice.balance ''
check "carol is denied alice's accounts list" has 'Permissions Violation' as carol req --timeout 1s bank.customer.alice.accounts ''
check "nothing was restarted to add carol" eval '[ "$(starts)" = "$before" ] || { echo "$before"; starts; false; }'

echo "== closed by default"
check "NATS (4222) is published on 127.0.0.1 only" loopback nats 4222 4222
check "NATS monitoring (8222) is published on 127.0.0.1 only" loopback nats 8222 8222
check "Postgres (5432) is published on 127.0.0.1 only" loopback postgres 5432 5432
check "Prometheus (9090) is published on 127.0.0.1 only" loopback prometheus 9090 9090
check "account-1's /metrics (8081) is published on 127.0.0.1 only" loopback account-1 8080 8081
check "no port of any container is published beyond 127.0.0.1" all_loopback
check "a service refuses a change-me NATS password" fails_with NATS_PASSWORD dc run --rm -T --no-deps -e NATS_PASSWORD=change-me-x coordinator
check "the NATS server refuses a change-me password" fails_with OPERATOR_PASSWORD dc run --rm -T --no-deps -e OPERATOR_PASSWORD=change-me-x nats
check "the history's role reaches its own database" db_own tsbank_history "$HISTORY_DB_PASSWORD" tsbank_history transactions
check "the history's role cannot connect to account-1's database" db_denied tsbank_history "$HISTORY_DB_PASSWORD" tsbank_account_1
check "the history's role cannot connect to account-2's database" db_denied tsbank_history "$HISTORY_DB_PASSWORD" tsbank_account_2
check "account-1's role cannot connect to account-2's database" db_denied tsbank_account_1 "$ACCOUNT_1_DB_PASSWORD" tsbank_account_2
check "the auth service's role cannot connect to account-1's database" db_denied tsbank_auth "$AUTH_DB_PASSWORD" tsbank_account_1

# account-1 runs as two processes; kill the one holding the lease (its /readyz answers 200).
serving=account-1
docker exec "$(dc ps -q account-1)" /account healthcheck >/dev/null 2>&1 || serving=account-1-standby
echo "== killing $serving, which serves account-1 (the other process takes over)"
docker kill "$(dc ps -q $serving)" >/dev/null
t0=$(date +%s%N)
check "the standby serves account-1 within 10 s" eventually 10 has '"balance":"377.30"' as alice req --timeout 1s bank.account.alice.balance ''
echo "     take-over: $(( ($(date +%s%N) - t0) / 1000000 )) ms after the SIGKILL"
dc start "$serving" >/dev/null 2>&1
check "the killed process is back, as the standby" eventually 60 healthy
check "a transfer after the restart commits" has '"status":"committed"' as bob req bank.transfer.bob '{"id":"t-2","to":"alice","amount":"5.00"}'
check "psql has every event once" eventually 10 rows_are 14
check "reconciliation finds no difference" eventually 10 has '"differences":[]' op req bank.history.reconcile ''

echo "== the NATS cluster: docker-compose.cluster.yml laid over docker-compose.yml"
dc down -v >/dev/null 2>&1
export COMPOSE_FILE=docker-compose.yml:docker-compose.cluster.yml # the trap's down uses it too
t0=$(date +%s%N)
dc up -d >/dev/null 2>&1 || { dc logs --tail 30; exit 1; }
check "every container of the cluster stack healthy within 90 s" eventually 90 healthy
echo "     up to healthy: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
no_restarts() { # no_restarts [SERVICE]: no container of the project but SERVICE's was restarted (a service that gave up would be)
  local skip=${1:+$(dc ps -q "$1")}
  local restarted
  restarted=$(docker inspect -f '{{.Id}} {{.Name}} {{.RestartCount}}' $(dc ps -q) |
    awk -v skip="$skip" 'skip != "" && index($1, skip) == 1 {next} $3 != 0 {print $2}')
  [ -z "$restarted" ] && return 0
  for c in $restarted; do echo "$c restarted; the end of its log:"; docker logs --tail 12 "${c#/}" 2>&1 | cut -c1-300; done
  return 1
}
check "no service restarted while the cluster formed" no_restarts
check "nats-2 and nats-3 are published on 127.0.0.1 only" eval 'loopback nats-2 4222 4223 && loopback nats-3 8222 8224'
check "the demo runs on the cluster" has 'alice  on account-1  balance   307.30 EUR' dc run --rm -T demo
check "Prometheus finds nats-2 and nats-3 too: all 12 targets up" eventually 30 targets_up 12
check "the events stream is replicated on three servers" has 'Replicas: 3' op stream info TSBANK_EVENTS
check "the registry bucket is replicated on three servers" has 'Replicas: 3' op stream info KV_tsbank_accounts
# Each member in turn is killed (SIGKILL: no leadership handed over, so every stream and bucket it
# led elects a new leader, which nats-server does within 4 to 9 s) and started again. The services
# ride over it: no container restarts, which a retried check would hide, so it is counted.
N="bin/nats -s nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
transfer_commits() { # transfer_commits ID: 1.00 from alice to bob, with a new id ID-<time>, commits
  has '"status":"committed"' as alice req --timeout 3s bank.transfer.alice "{\"id\":\"$1-$(date +%s%N)\",\"to\":\"bob\",\"amount\":\"1.00\"}"
}
bob=334.50
for member in nats nats-2 nats-3; do
  echo "== killing $member"
  docker kill "$(dc ps -q $member)" >/dev/null
  lost=$(date +%s%N)
  bob=$(awk -v b="$bob" 'BEGIN { printf "%.2f", b + 1 }')
  # Each try has an id of its own: an aborted transfer's id keeps its outcome.
  check "a transfer commits within 15 s of $member's loss" eventually 15 transfer_commits "t-$member"
  echo "     first commit: $(( ($(date +%s%N) - lost) / 1000000 )) ms after the SIGKILL"
  check "a customer logs in while $member is down" eventually 10 has "\"balance\":\"$bob\"" as bob req --timeout 3s bank.account.bob.balance ''
  dc start $member >/dev/null 2>&1
  check "$member rejoins" eventually 60 healthy
  check "no other container restarted over $member's loss" no_restarts $member
done
check "reconciliation on the cluster finds no difference" eventually 20 has '"differences":[]' op req bank.history.reconcile ''

echo "== image sizes"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^tsbank/' | sed 's/^/     /'
echo "compose test took $((SECONDS - start)) s from the first up ($((SECONDS - begin)) s with the build)"
echo "compose: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
