// forward(): a proxy's body copy keeps pipe()'s backpressure and ends the destination only when asked.
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { forward } from '../../../proxy/http/forward.ts';

const CHUNK = 16 * 1024;
const COUNT = 64;

/** A source holding all of its chunks at once, so only backpressure can keep them out of the destination. */
function fullSource(): { src: Readable; sent: Buffer } {
  const parts = Array.from({ length: COUNT }, (_, i) => Buffer.alloc(CHUNK, i));
  const src = new Readable({ read() {} });
  for (const p of parts) src.push(p);
  src.push(null);
  return { src, sent: Buffer.concat(parts) };
}

/** A destination that takes one chunk per turn of the event loop and records its largest backlog. */
function slowSink(): { dst: Writable; got: Buffer[]; maxBacklog: () => number } {
  const got: Buffer[] = [];
  let max = 0;
  const dst = new Writable({
    highWaterMark: CHUNK,
    write(chunk: Buffer, _enc, done) {
      got.push(chunk);
      setImmediate(done);
    },
  });
  const write = dst.write.bind(dst);
  dst.write = ((chunk: Buffer) => {
    const ok = write(chunk);
    max = Math.max(max, dst.writableLength);
    return ok;
  }) as typeof dst.write;
  return { dst, got, maxBacklog: () => max };
}

describe('forward', () => {
  it('passes every byte in order and ends the destination, never holding more than one chunk past its mark', async () => {
    const { src, sent } = fullSource();
    const { dst, got, maxBacklog } = slowSink();
    forward(src, dst);
    await once(dst, 'finish');
    expect(Buffer.concat(got).equals(sent)).toBe(true);
    // Without the pause on a full destination, the whole megabyte would be queued at once.
    expect(maxBacklog()).toBeLessThanOrEqual(2 * CHUNK);
  });

  it('leaves the destination open when told not to end it', async () => {
    const { src, sent } = fullSource();
    const { dst, got } = slowSink();
    forward(src, dst, false);
    await once(src, 'end');
    if (dst.writableLength > 0) await once(dst, 'drain'); // everything written
    expect(Buffer.concat(got).equals(sent)).toBe(true);
    expect(dst.writableEnded).toBe(false);
    dst.end();
  });
});
