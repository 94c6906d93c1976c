#!/usr/bin/env bash
# MESH_CMD_SETUP for ../shared/peer-bench/run.sh: bench/h1-floor.ts with the lean HTTP/1 server's
# parser fed by the socket's 'data' events (--server lean-data) and the proxy's own pool sending
# (--client lean); otherwise h1-floor-setup.sh.
set -euo pipefail
H1_FLOOR_CLIENT=lean H1_FLOOR_SERVER=lean-data exec "$(dirname "${BASH_SOURCE[0]}")/h1-floor-setup.sh" "$@"
