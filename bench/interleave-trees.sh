#!/usr/bin/env bash
# Several mesh trees measured in one run, for before/after figures finer than one pair of peer-bench runs:
# each tree a peer-bench mesh (its own bench/peer-setup.sh: wrk -> proxy A ==mTLS==> proxy B -> backend) on
# its own entry port (19400, 19500, ...), all started at once beside one backend; then ROUNDS rounds in which
# each tree in turn takes a SLICE-second `wrk -t1 -c50` (order reversed every other round), the utime and
# stime of its two proxies read from /proc around it. Prints each slice and, per tree, the pooled CPU ms per
# 1,000 requests (all its slices' CPU over all their requests) and the user part. Name one tree twice (an A/A
# pair) to see the machine's noise. Under the heavy lock:
#   flock /tmp/mesh-heavy.lock bench/interleave-trees.sh base=/work/wt/before after=$PWD again=/work/wt/before
# Every process it starts is stopped by PID on exit; everything stays on 127.0.0.1.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PB=${PEER_BENCH_DIR:-}
[[ -n "$PB" ]] || for d in "$here/../shared/peer-bench" "$here/../../shared/peer-bench"; do [[ -f "$d/backend.mjs" ]] && PB=$d && break; done
[[ -f "$PB/backend.mjs" ]] || { echo "no ../shared/peer-bench beside the checkout; set PEER_BENCH_DIR" >&2; exit 2; }
(($# >= 2)) || { echo "usage: $0 name=checkout name=checkout [...]" >&2; exit 2; }
ROUNDS=${ROUNDS:-6}; SLICE=${SLICE:-3}
W=$(mktemp -d /tmp/interleave-trees.XXXXXX)
started=()
cleanup() { local p; for p in "${started[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
echo "start $(date -u +%T), load average $(cut -d' ' -f1-3 /proc/loadavg)"
node "$PB/backend.mjs" --host 127.0.0.1 --port 18080 --h2c-port 18081 > "$W/backend.log" 2>&1 & started+=($!)
sleep 1
names=(); declare -A PIDS PORT
i=0
for tree in "$@"; do
  name=${tree%%=*}; repo=${tree#*=}; port=$((19400 + 100 * i)); mkdir -p "$W/$name"
  PB_LISTEN_HOST=127.0.0.1 PB_LISTEN_PORT=$port PB_APP_HOST=127.0.0.1 PB_APP_PORT=18080 PB_APP_H2C_PORT=18081 \
    PB_WORKDIR=$W/$name PB_FREE_PORTS=$((port + 1))-$((port + 99)) MESH_REPO=$repo bash "$repo/bench/peer-setup.sh" $port > "$W/$name/pids" 2> "$W/$name/setup.err"
  PIDS[$name]=$(grep -E '^[0-9]+$' "$W/$name/pids" | tr '\n' ' ')
  PORT[$name]=$port
  for p in ${PIDS[$name]}; do started+=("$p"); done
  [[ "$(curl -s "http://127.0.0.1:$port/")" == *peer-bench-backend* ]] || { echo "$name ($repo): no answer through its mesh; $(tail -n 3 "$W/$name/setup.err")" >&2; exit 1; }
  names+=("$name"); i=$((i + 1))
done
# utime and stime (clock ticks) of the given processes, summed
cpu() { local u=0 s=0 p l; for p in $1; do l=$(cat "/proc/$p/stat"); l=${l##*) }; set -- $l; u=$((u + ${12})); s=$((s + ${13})); done; echo "$u $s"; }
# warm-up: the proxies turn their optimizing compiler on once busy (bin/optimize-when-busy.js)
for n in "${names[@]}"; do wrk -t1 -c50 -d4s "http://127.0.0.1:${PORT[$n]}/" > /dev/null 2>&1; done
: > "$W/slices"
for ((r = 1; r <= ROUNDS; r++)); do
  order=("${names[@]}")
  if ((r % 2 == 0)); then order=(); for ((k = ${#names[@]} - 1; k >= 0; k--)); do order+=("${names[$k]}"); done; fi
  for n in "${order[@]}"; do
    read -r u0 s0 < <(cpu "${PIDS[$n]}")
    reqs=$(timeout $((SLICE + 15)) wrk -t1 -c50 -d"${SLICE}s" "http://127.0.0.1:${PORT[$n]}/" 2>&1 | awk '/requests in/{print $1}')
    read -r u1 s1 < <(cpu "${PIDS[$n]}")
    echo "slice $r $n requests=$reqs utime=$((u1 - u0)) stime=$((s1 - s0))" | tee -a "$W/slices"
  done
done
echo "end $(date -u +%T), load average $(cut -d' ' -f1-3 /proc/loadavg)"
hz=$(getconf CLK_TCK)
awk -v hz="$hz" '{ split($4, q, "="); split($5, u, "="); split($6, s, "="); R[$3] += q[2]; U[$3] += u[2]; S[$3] += s[2]; if (!($3 in R0)) { R0[$3] = 1; order[++n] = $3 } }
  END { for (i = 1; i <= n; i++) { t = order[i]
      if (R[t] == 0) { printf "%-10s no requests completed in any slice (wrk failed each time: see the slices above)\n", t; continue }
      printf "%-10s pooled CPU ms per 1k requests %6.1f (user %5.1f), %d requests\n", t, (U[t] + S[t]) * 1000 / hz / R[t] * 1000, U[t] * 1000 / hz / R[t] * 1000, R[t] } }' "$W/slices"
