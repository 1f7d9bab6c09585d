#!/usr/bin/env bash
# Builds every image docker-compose.yml uses, on a machine without an image registry: first the
# stand-ins for the third-party images (deploy/standins/build.sh), then the vendored modules the
# build stage compiles from (`go work vendor`: the build needs no network), then the project's own
# images. Run from anywhere, as root (or a user in the docker group with sudo for debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/standins/build.sh
go work vendor
trap 'rm -rf vendor' EXIT
if command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  compose=(docker compose)
fi
# The classic builder: BuildKit needs the buildx plugin, which this engine may not have.
log=$(mktemp)
if ! COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=0 "${compose[@]}" --env-file .env.example build >"$log" 2>&1; then
  tail -40 "$log"
  exit 1
fi
rm -f "$log"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^(tsbank/|golang:|postgres:)'
