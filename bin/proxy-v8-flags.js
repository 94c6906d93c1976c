// The V8 settings every running sidecar (`mesh proxy`) gets, in one place: bin/mesh.js applies
// them, and the benchmarks' floors (bench/h1-floor.ts, bench/bare-h2-pair.ts) apply the same list,
// so a floor measured "with the proxy's settings" cannot drift from what a proxy runs with.
// They are set from inside the process, since a flag set there needs no re-exec (no second
// process, and the pid stays the proxy's), and each only where V8 reads it again after start:
// - V8 lets the old generation grow to about 4x the live heap before a full GC; under load the
//   proxy promotes short-lived request objects fast, so RSS climbed to ~190 MB over a ~20 MB
//   live heap. A 20% growing factor held it at 117-124 MB, no measurable throughput cost (full
//   GCs of a 20 MB heap take ~7 ms; `--max-old-space-size=64` instead cost 35% CPU per request).
//   V8 reads this flag at every heap-limit computation, so setting it at runtime takes effect.
// - New space (the young generation) keeps its first size (1 MB semi-spaces) instead of
//   doubling whenever enough objects survive scavenges: start-up alone (loading and compiling
//   the modules) grew it to 8-10 MB, which an idle proxy then kept. Idle RSS 71-78 -> 66-67 MB,
//   and under load (bench/NOTES.md, round 2, HTTP/2 and memory).
// - Any WebAssembly is compiled by V8's baseline compiler (Liftoff) only. A proxy runs none now
//   (bin/mesh.js takes `WebAssembly` away; the HTTP/1 client parses with Node's native llhttp), but
//   `node --expose-wasm bin/mesh.js proxy` brings it back, and the floors that send with undici run
//   its llhttp as wasm: V8 recompiled that one large parser function with its optimizing compiler on
//   the first response, which took ~35 MB for a moment (every proxy's peak RSS jumped from ~70 to
//   ~105 MB on its first request). Liftoff's code parses ~2 us per response slower in a loop that
//   does nothing else (bench/NOTES.md, round 3).
// - Scavenges (young-generation GCs, ~19 a second per proxy at 1,000 req/s) run on the main
//   thread alone, without V8's helper threads: a 1 MB young generation leaves them little to
//   share, and on a small machine with busy cores the main thread waited for helpers that had lost
//   their core. Paced at 1,000 req/s on two loaded cores, scavenges took half the time, their
//   worst pause fell from 9-81 to 1.4-9 ms, and the mesh's p99 was lower in 8 runs of 10 (p50
//   in 8); saturated, over 4 runs, throughput moved -18% to +22% (median -7%) and CPU per request
//   -8% to +11% (median +4%); on quiet cores, in ../shared/peer-bench, it cost ~10% of CPU per
//   request saturated and showed no latency change (3 pairs). A gain for the tail on busy cores,
//   where sidecars run, for a price at saturation (bench/NOTES.md, round 5, latency);
//   `node --parallel-scavenge bin/mesh.js proxy` pays the other way. V8 reads the flag at each
//   scavenge, so setting it here takes effect.
import { setFlagsFromString } from 'node:v8';

/** Each setting, and the command-line flags that override it (`node --parallel-scavenge bin/mesh.js proxy`). */
const PROXY_V8_FLAGS = [
  { flag: '--heap-growing-percent=20', overriddenBy: /^--heap-growing-percent/ },
  { flag: '--semi-space-growth-factor=1', overriddenBy: /^--semi-space-growth-factor/ },
  { flag: '--liftoff-only', overriddenBy: /^--(no-)?liftoff/ },
  { flag: '--no-parallel-scavenge', overriddenBy: /^--(no-)?parallel-scavenge$/ },
];

/** Sets every setting that `execArgv` (the process's own Node flags) does not override. */
export function applyProxyV8Flags(execArgv) {
  for (const { flag, overriddenBy } of PROXY_V8_FLAGS) {
    if (!execArgv.some((arg) => overriddenBy.test(arg))) setFlagsFromString(flag);
  }
}
