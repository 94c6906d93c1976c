// Turns V8's optimizing compiler (TurboFan) on in a sidecar once it has work to do, not before.
// bin/mesh.js starts `mesh proxy` with the compiler off (`--no-opt`). An idle proxy optimized a
// handful of functions anyway (protobufjs's tokenizer and code generator, parsing the destination
// API at the first lookup; a timer's wrapper), and compiling even those brought TurboFan's own
// code, ~3.7 MB of the `node` binary's pages, and its working memory into every idle proxy
// (bench/NOTES.md, round 7). A busy proxy needs the compiler: its request path runs several times
// faster optimized. So the proxy watches how busy its event loop is, and the first time it is busy
// for a while (a burst of load, a steady stream, a tunnel carrying bytes) the compiler comes on,
// for good: V8 reads the flag at each tiering decision, so the functions that are hot by then are
// optimized as they would have been.
import { setFlagsFromString } from 'node:v8';
import { performance } from 'node:perf_hooks';

/** How often the event loop's use is read. */
const WINDOW_MS = 1000;
/**
 * A window counts as busy when the event loop ran this share of it or more. The demo's few
 * requests a second, metrics scrapes and discovery updates keep an unoptimized proxy busy well
 * under 2% of the time; 100 requests a second take 10-30%.
 */
const BUSY_UTILIZATION = 0.1;
/** This many busy windows in a row turn the compiler on: one burst of a few requests does not. */
const BUSY_WINDOWS = 2;

/**
 * From now on, checks every second; turns TurboFan on (`--opt`) after `BUSY_WINDOWS` busy windows
 * in a row, then stops checking. The timer never keeps the process alive.
 */
export function optimizeWhenBusy() {
  let last = performance.eventLoopUtilization();
  let busyInARow = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    busyInARow = utilization >= BUSY_UTILIZATION ? busyInARow + 1 : 0;
    if (busyInARow < BUSY_WINDOWS) return;
    clearInterval(timer);
    setFlagsFromString('--opt');
  }, WINDOW_MS);
  timer.unref();
}
