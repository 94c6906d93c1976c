#!/usr/bin/env bash
# MESH_CMD_SETUP for ../shared/peer-bench/run.sh: bench/h1-floor.ts as a peer, the mesh's HTTP/1
# transport with nothing of the mesh (wrk -> a: node:http + undici Pool -> mTLS -> b: node:http +
# undici Pool -> backend), with the V8 settings a proxy gets. run.sh sets PB_*; MESH_REPO is this
# checkout. Prints the PIDs of the two sides. H1_FLOOR_CLIENT=lean: the proxy's own pool sends, not undici;
# H1_FLOOR_SERVER=lean: bench/h1-lean-server.ts serves, not node:http.
set -euo pipefail
: "${MESH_REPO:?set MESH_REPO to the project checkout}"
entry=$1; b=$((entry + 1))
client=${H1_FLOOR_CLIENT:-undici}
server=${H1_FLOOR_SERVER:-node}
cd "$MESH_REPO"
setsid node bin/run.js bench/h1-floor.ts b proxy-gc --client "$client" --server "$server" --listen "127.0.0.1:$b" --app "$PB_APP_HOST:$PB_APP_PORT" --certs "$PB_CERTS" \
  > "$PB_WORKDIR/floor-b.log" 2>&1 < /dev/null & echo $!
setsid node bin/run.js bench/h1-floor.ts a proxy-gc --client "$client" --server "$server" --listen "$PB_LISTEN_HOST:$entry" --peer "127.0.0.1:$b" --certs "$PB_CERTS" \
  > "$PB_WORKDIR/floor-a.log" 2>&1 < /dev/null & echo $!
for port in $b $entry; do
  for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
