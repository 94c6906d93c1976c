#!/usr/bin/env bash
# MESH_CMD_SETUP for ../shared/peer-bench/run.sh: bench/h1-floor.ts serving with the lean HTTP/1
# server (--server lean, bench/h1-lean-server.ts) and sending with the proxy's own pool (--client
# lean); otherwise h1-floor-setup.sh.
set -euo pipefail
H1_FLOOR_CLIENT=lean H1_FLOOR_SERVER=lean exec "$(dirname "${BASH_SOURCE[0]}")/h1-floor-setup.sh" "$@"
