#!/bin/bash
# `npm run test:compose`: the project's docker-compose.yml on a real Docker engine, then torn down.
# Starts the engine (test/compose/engine.sh: its own network namespace, two dockerds by PID),
# builds mesh-demo:local, brings the demo up, runs test/compose/demo.test.ts inside the engine's
# namespace, writes `docker stats` to artifacts/compose/, and on any exit stops everything and
# checks that no daemon, namespace or mount is left. Fails loudly; never skips.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENGINE=test/compose/engine.sh
eval "$("$ENGINE" env)"   # DC, NS, RUN, BUILD
export COMPOSE_PROJECT_NAME=meshtest
ART=artifacts/compose; mkdir -p "$ART"
t0=$SECONDS
step() { echo "test:compose: [$((SECONDS - t0)) s] $*"; }

cleanup() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ] && [ -S "$DC/run.sock" ]; then
    step "FAILED (exit $rc): state of the services, and their last log lines, in $ART/"
    DOCKER_HOST=$RUN docker-compose ps > "$ART/ps.txt" 2>&1; cat "$ART/ps.txt"
    DOCKER_HOST=$RUN docker-compose logs --no-color --tail 40 > "$ART/logs.txt" 2>&1
  fi
  [ -S "$DC/run.sock" ] && DOCKER_HOST=$RUN docker-compose down -v --timeout 5 >/dev/null 2>&1
  "$ENGINE" down
  "$ENGINE" check-clean || { echo "test:compose: FAILED: something was left behind (above)"; rc=1; }
  step "done, exit $rc"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "engine up"
"$ENGINE" up

step "build mesh-demo:local (build daemon, host network for apt and npm)"
t=$SECONDS
DOCKER_HOST=$BUILD docker-compose -f docker-compose.yml -f test/compose/build-host.yml build > "$ART/build.log" 2>&1 \
  || { tail -30 "$ART/build.log"; echo "test:compose: FAILED: image build (log: $ART/build.log)"; exit 1; }
step "built in $((SECONDS - t)) s"
# Prometheus's image is on Docker Hub, which these machines cannot reach: a stand-in of the same
# version from Debian's package, under the same name (cached like the rest).
DOCKER_HOST=$BUILD docker build --network host -t prom/prometheus:v2.42.0 -f test/compose/prometheus.Dockerfile test/compose > "$ART/prometheus-build.log" 2>&1 \
  || { tail -30 "$ART/prometheus-build.log"; echo "test:compose: FAILED: the Prometheus stand-in's build (log: $ART/prometheus-build.log)"; exit 1; }
step "moving the images to the run daemon"
DOCKER_HOST=$BUILD docker save mesh-demo:local prom/prometheus:v2.42.0 | DOCKER_HOST=$RUN docker load >/dev/null

services=$(docker-compose config --services)
step "up: $(echo $services | wc -w) services"
t=$SECONDS
DOCKER_HOST=$RUN docker-compose up -d > "$ART/up.log" 2>&1 \
  || { tail -30 "$ART/up.log"; echo "test:compose: FAILED: docker-compose up (log: $ART/up.log)"; exit 1; }
step "up and healthy in $((SECONDS - t)) s"

step "tests (inside network namespace $NS)"
ip netns exec "$NS" env DOCKER_HOST="$RUN" COMPOSE_PROJECT_NAME="$COMPOSE_PROJECT_NAME" \
  npx vitest run --config vitest.compose.config.ts

# The closing figures: memory and CPU per container at rest, then under `npm run load` (20 s,
# 20 connections), sampled 10 s into the load.
stats() { DOCKER_HOST=$RUN docker stats --no-stream --format 'table {{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}' | sed "s/^${COMPOSE_PROJECT_NAME}_//; s/_1\b//"; }
stats > "$ART/stats-idle.txt"
ip netns exec "$NS" node bin/mesh.js load --url http://127.0.0.1:8000 --duration 20 --connections 20 > "$ART/load.txt" 2>&1 &
load=$!
sleep 10; stats > "$ART/stats-load.txt"
wait $load || { cat "$ART/load.txt"; echo "test:compose: FAILED: npm run load against the compose demo"; exit 1; }
step "docker stats at rest ($ART/stats-idle.txt) and under load ($ART/stats-load.txt; the load's report in $ART/load.txt):"
paste "$ART/stats-idle.txt" "$ART/stats-load.txt"
tail -15 "$ART/load.txt"
