#!/usr/bin/env bash
# Builds every image docker-compose.yml uses, on a machine without an image registry: first the
# stand-ins for the third-party images (deploy/standins/build.sh), then the vendored modules the
# build stage compiles from (`go work vendor`: the build needs no network), then the project's own
# images. Run from anywhere, as root (or a user in the docker group with sudo for debootstrap).
#
# The images are built from a snapshot of the working tree (without .git, bin/, vendor/ and .env),
# vendored there, so that the checkout never holds a vendor/ directory (which would switch every
# `go` command run in it meanwhile to -mod=vendor) and no secret or large file enters the build
# context.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/standins/build.sh
ctx=$(mktemp -d /var/tmp/tsbank-build.XXXXXX)
log=$(mktemp)
trap 'rm -rf "$ctx" "$log"' EXIT
tar -c --exclude=./.git --exclude=./bin --exclude=./vendor --exclude=./.env --exclude=./.env.tmp . | tar -C "$ctx" -x
(cd "$ctx" && go work vendor)
if command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  compose=(docker compose)
fi
# The classic builder: BuildKit needs the buildx plugin, which this engine may not have. The
# placeholders of .env.example satisfy the compose file's required variables; nothing runs here.
if ! COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=0 "${compose[@]}" --project-directory "$ctx" -f "$ctx/docker-compose.yml" \
  --env-file "$ctx/.env.example" build >"$log" 2>&1; then
  tail -40 "$log"
  exit 1
fi
# Each build leaves its build stage (the Go toolchain and every object file, about 800 MB)
# untagged, as the cache of the next build, and an image that a new build replaced loses its tag.
# Keep the newest build stage and remove the rest (`docker images` lists the newest first).
stale=$(docker images -q -f dangling=true -f label=tsbank.stage=build | tail -n +2;
  docker images -q -f dangling=true -f label=tsbank.stage=service)
if [ -n "$stale" ]; then docker rmi $stale >/dev/null 2>&1 || true; fi
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^(tsbank/|golang:|postgres:|prom/prometheus:)'
