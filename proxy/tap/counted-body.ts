// A reported response's body passed on to the client with its bytes counted (for
// `response_end`): one plain Readable fed by the body's 'data' events, pausing the body while
// the client's side is full. A Transform and a pipe do the same with two stream states and a
// dozen listeners per response, about half of what reporting a request cost the tap layer.
import { Readable } from 'node:stream';
import { ProxyError } from '../errors.ts';

export interface CountedBody {
  /** What the client reads instead of the body. */
  readonly stream: Readable;
  /** Bytes passed on so far. */
  readonly bytes: number;
}

/**
 * Wraps `body`. `onClose` runs once the client's copy has closed: ended with every byte, or
 * destroyed (the client left, or the body failed or vanished: `stream.errored` says which).
 */
export function countBody(body: Readable, onClose: (counted: CountedBody) => void): CountedBody {
  const counted = {
    bytes: 0,
    stream: new Readable({
      // The client wants more: let the body flow again (a no-op unless it was paused below).
      read: () => body.resume(),
      destroy: (err, done) => {
        if (!body.destroyed) body.destroy(); // the client left: stop the upstream too
        done(err);
      },
    }),
  };
  const out = counted.stream;
  body.on('data', (chunk: Buffer | string) => {
    counted.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (!out.push(chunk)) body.pause(); // backpressure: the client's side is full
  });
  body.on('end', () => out.push(null));
  body.on('error', (err) => out.destroy(err));
  // A peer that vanishes can end the body with neither 'end' nor 'error' (a destroyed stream):
  // end the client's copy too, or the client hangs and the tap never sees its end.
  body.on('close', () => {
    if (!body.readableEnded && !out.destroyed) out.destroy(new ProxyError('UPSTREAM_RESET', 'the response ended early: the upstream closed its stream'));
  });
  out.on('close', () => onClose(counted));
  return counted;
}
