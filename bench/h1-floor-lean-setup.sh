#!/usr/bin/env bash
# MESH_CMD_SETUP for ../shared/peer-bench/run.sh: bench/h1-floor.ts sending with the proxy's own
# HTTP/1 pool (--client lean) instead of undici's Pool; otherwise h1-floor-setup.sh.
set -euo pipefail
H1_FLOOR_CLIENT=lean exec "$(dirname "${BASH_SOURCE[0]}")/h1-floor-setup.sh" "$@"
