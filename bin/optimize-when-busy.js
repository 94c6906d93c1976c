// Turns V8's optimizing compiler (TurboFan) on in a sidecar once it has work to do, not before.
// bin/mesh.js starts `mesh proxy` with the compiler off (`--no-opt`). An idle proxy optimized a
// handful of functions anyway (protobufjs's tokenizer and code generator, parsing the destination
// API at the first lookup; a timer's wrapper), and compiling even those brought TurboFan's own
// code, ~3.7 MB of the `node` binary's pages, and its working memory into every idle proxy
// (bench/NOTES.md, round 7). A busy proxy needs the compiler: its request path runs several times
// faster optimized. So the proxy watches its load, and the first time it is busy for a while (a
// burst of requests, a steady stream, a tunnel keeping its event loop at work) the compiler comes
// on, for good: V8 reads the flag at each tiering decision, so the functions that are hot by then
// are optimized as they would have been.
import { setFlagsFromString } from 'node:v8';

/** How often the proxy's load is read. */
const WINDOW_MS = 1000;
/**
 * A window counts as busy with this many requests begun (both sides) or more. The demo's traffic
 * generator sends 2 a second and its start-up checks a few more; `mesh load` hundreds.
 */
const BUSY_REQUESTS = 50;
/**
 * ...or with its event loop running this share of the window or more, for work that begins no
 * request (an opaque tunnel, a long gRPC stream). Not lower: the event loop's use counts wall
 * time, and a proxy starting beside a dozen other processes on two cores read 10% and more for
 * seconds with nothing to serve.
 */
const BUSY_UTILIZATION = 0.5;
/** This many busy windows in a row turn the compiler on: one short burst does not. */
const BUSY_WINDOWS = 2;

/**
 * From now on, reads the proxy's load (`load`: proxy/load-window.ts, whose `next()` gives the
 * requests begun and the event loop's use since the last look) every second; turns TurboFan on
 * (`--opt`) after `BUSY_WINDOWS` busy windows in a row, then stops reading. The timer never keeps
 * the process alive.
 */
export function optimizeWhenBusy(load) {
  let busyInARow = 0;
  const timer = setInterval(() => {
    const { requests, utilization } = load.next();
    const busy = requests >= BUSY_REQUESTS || utilization >= BUSY_UTILIZATION;
    busyInARow = busy ? busyInARow + 1 : 0;
    if (busyInARow < BUSY_WINDOWS) return;
    clearInterval(timer);
    setFlagsFromString('--opt');
  }, WINDOW_MS);
  timer.unref();
}
