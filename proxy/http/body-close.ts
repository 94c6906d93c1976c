// One 'close' listener per response body for every layer that waits for the body to be over
// (metrics, the balancer's load, a timeout): each registers a hook object, and one shared
// listener runs them in the order they came.
//
// A body closes once it has ended (autoDestroy) or been destroyed, whichever way it went:
// `readableEnded` and `errored` then tell which. Listening for 'close' alone, not
// stream.finished()'s ten listeners and closures. On HTTP/2 a body lives as long as its response
// (with 100 streams in flight, through a few young-generation scavenges), so what hangs on it is
// promoted: here that is one listener and the hooks' own objects, not a closure and a listener
// entry per layer.
import type { Readable } from 'node:stream';

export interface BodyCloseHook {
  /** `body` has closed: ended, or destroyed before its end. */
  bodyClosed(body: Readable): void;
}

const kHooks = Symbol('mesh.body-close-hooks');
type Hooked = Readable & { [kHooks]?: BodyCloseHook | BodyCloseHook[] };

/** Calls `hook.bodyClosed(body)` when `body` closes (once: a body closes once). */
export function onBodyClose(body: Readable, hook: BodyCloseHook): void {
  const b = body as Hooked;
  const held = b[kHooks];
  if (held === undefined) {
    b[kHooks] = hook;
    // `on`: 'close' comes once, and `once` would add a wrapper and its state per body.
    b.on('close', runHooks);
  } else if (Array.isArray(held)) held.push(hook);
  else b[kHooks] = [held, hook];
}

function runHooks(this: Hooked): void {
  const held = this[kHooks]!;
  this[kHooks] = undefined;
  if (!Array.isArray(held)) return held.bodyClosed(this);
  for (const hook of held) hook.bodyClosed(this);
}
