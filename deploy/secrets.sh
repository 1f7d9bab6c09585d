#!/usr/bin/env bash
# Writes .env with fresh random secrets for docker-compose.yml (every password, the cursor
# secret, the coordinator's signing key pair and the auth issuer's key pair), unless .env exists.
# It runs `tsbankctl secrets` from the tsbankctl image (./deploy/build-images.sh builds it), or
# with Go when the image is not there. The file is readable by its owner only.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -e .env ]; then
  echo ".env exists; not overwriting it (remove it to generate new secrets, then docker-compose down -v)"
  exit 0
fi
umask 077
if docker image inspect tsbank/tsbankctl >/dev/null 2>&1; then
  docker run --rm tsbank/tsbankctl secrets >.env.tmp
else
  go run ./cmd/tsbankctl secrets >.env.tmp
fi
echo "TSBANK_BIND=127.0.0.1" >>.env.tmp
mv .env.tmp .env
echo "wrote .env with fresh secrets"
