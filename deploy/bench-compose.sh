#!/usr/bin/env bash
# Benchmarks the compose deployment: starts docker-compose.yml with fresh secrets (durable
# Postgres, every service in its own container), runs `tsbankctl bench` from the host as the
# operator, and prints what each container's processes spent in CPU per operation, read from the
# containers' cpuacct cgroups before and after the load. Arguments go to `tsbankctl bench`:
#
#   bash deploy/bench-compose.sh -clients 64 -duration 20s
#   bash deploy/bench-compose.sh -mode deposit -clients 64 -duration 20s
#
# The stack is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
project=tsbank-bench
if command -v docker-compose >/dev/null; then compose=(docker-compose); else compose=(docker compose); fi
unset TSBANK_BIND COMPOSE_FILE
env_file=$(mktemp)
dc() { "${compose[@]}" --env-file "$env_file" -p "$project" "$@"; }
cleanup() { dc down -v --remove-orphans >/dev/null 2>&1; rm -f "$env_file"; }
trap cleanup EXIT
go run ./cmd/tsbankctl secrets >"$env_file" || exit 1
set -a; . "$env_file"; set +a
bash deploy/build-images.sh >/dev/null || exit 1
dc up -d >/dev/null 2>&1 || { dc logs --tail 20; exit 1; }

healthy() {
  local s
  s=$(docker ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Status}}' | grep -v migrate)
  [ -n "$s" ] && ! echo "$s" | grep -qv '(healthy)'
}
ready_by=$((SECONDS + 180))
until healthy; do [ $SECONDS -lt $ready_by ] || { echo "the stack did not become healthy"; dc ps; exit 1; }; sleep 1; done

# cpu_ns prints "<service> <CPU nanoseconds>" for every running container of the project.
cpu_ns() {
  docker ps --filter "label=com.docker.compose.project=$project" --format '{{.ID}} {{.Label "com.docker.compose.service"}}' |
    while read -r id service; do
      full=$(docker inspect -f '{{.Id}}' "$id")
      for f in /sys/fs/cgroup/cpuacct/docker/"$full"/cpuacct.usage /sys/fs/cgroup/system.slice/docker-"$full".scope/cpu.stat; do
        [ -r "$f" ] || continue
        case $f in
          *cpuacct.usage) echo "$service $(cat "$f")" ;;
          *cpu.stat) echo "$service $(($(awk '/^usage_usec/ {print $2}' "$f") * 1000))" ;;
        esac
        break
      done
    done | sort
}

out=$(mktemp)
before=$(cpu_ns)
NATS_URL=nats://127.0.0.1:4222 NATS_USER=operator NATS_PASSWORD=$OPERATOR_PASSWORD \
  go run ./cmd/tsbankctl bench "$@" | tee "$out"
status=${PIPESTATUS[0]}
after=$(cpu_ns)
ops=$(awk '/^throughput/ {print $2}' "$out")
echo "CPU per operation, by container (${ops:-0} operations, the bench's set-up included):"
join <(echo "$before") <(echo "$after") | awk -v ops="${ops:-0}" '
  ops > 0 { ms = ($3 - $2) / 1e6 / ops; total += ms; printf "  %-14s %7.3f ms\n", $1, ms }
  END { if (ops > 0) printf "  %-14s %7.3f ms\n", "all", total }'
rm -f "$out"
exit "$status"
