// `src.pipe(dst)` for a proxy's bodies, with the same backpressure and a fraction of the work:
// a full destination pauses the source until 'drain'. Readable.pipe attaches about a dozen
// listeners and closures to both streams per call and removes them at the end (measured: ~4% of
// a proxy's allocations per HTTP/1 response; HTTP/2 has three such pipes per request and proxy).
// The two listeners here are functions shared by every body, which find their destination on
// the source (`this` is the source): no closure per call. Errors are not handled here (each
// caller listens for them itself); a destination destroyed while the source waits for it lets
// the source go (holdUntilDrained).
import type { Readable, Writable } from 'node:stream';

const kDestination = Symbol('mesh.forward-destination');
type Forwarded = Readable & { [kDestination]?: Writable };

/** Writes every chunk of `src` to `dst`, then ends `dst` (unless `end` is false). A body is forwarded once. */
export function forward(src: Readable, dst: Writable, end = true): void {
  (src as Forwarded)[kDestination] = dst;
  src.on('data', onData);
  // 'end' comes once: no `once` wrapper needed.
  if (end) src.on('end', onEnd);
}

/** Where `src` is being forwarded to (for its owner's own listeners: no second record of the pair). */
export function forwardedTo(src: Readable): Writable | undefined {
  return (src as Forwarded)[kDestination];
}

function onData(this: Forwarded, chunk: Buffer): void {
  const dst = this[kDestination]!;
  if (!dst.write(chunk)) holdUntilDrained(this, dst);
}

function onEnd(this: Forwarded): void {
  this[kDestination]!.end();
}

/**
 * Pauses `src` until `dst` drains. A destination destroyed meanwhile (or already) never drains:
 * pipe() would leave the source paused for good, its buffers and its connection held. Here the
 * source is let go instead: resumed with nothing reading it, so what is left is read and dropped
 * until it ends, or until its owner (who hears the destination's close) destroys it.
 */
function holdUntilDrained(src: Readable, dst: Writable): void {
  const release = (): void => {
    src.off('data', onData);
    src.resume();
  };
  if (dst.destroyed) return release();
  src.pause();
  const onDrain = (): void => {
    dst.off('close', onClose);
    src.resume();
  };
  const onClose = (): void => {
    dst.off('drain', onDrain);
    release();
  };
  dst.once('drain', onDrain);
  dst.once('close', onClose);
}
