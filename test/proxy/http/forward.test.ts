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

describe('forward to a destination that is destroyed', () => {
  it('lets a source paused for backpressure go when the destination is destroyed (real sockets)', async () => {
    const { createServer, connect } = await import('node:net');
    // The sender writes 64 MiB and ends; the receiver never reads, so the forward fills up and pauses.
    const BYTES = 64 * 1024 * 1024;
    const sender = createServer((s) => {
      s.on('error', () => {});
      s.end(Buffer.alloc(BYTES, 1));
    });
    const stuck: import('node:net').Socket[] = [];
    const receiver = createServer((s) => {
      s.pause();
      s.on('error', () => {});
      stuck.push(s);
    });
    await Promise.all([new Promise<void>((r) => sender.listen(0, '127.0.0.1', r)), new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))]);
    try {
      const src = connect((sender.address() as { port: number }).port, '127.0.0.1');
      const dst = connect((receiver.address() as { port: number }).port, '127.0.0.1');
      dst.on('error', () => {});
      await Promise.all([once(src, 'connect'), once(dst, 'connect')]);
      forward(src, dst);
      for (const deadline = Date.now() + 20_000; !src.isPaused() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
      expect(src.isPaused()).toBe(true); // held by backpressure
      dst.destroy();
      // Let go, the source reads the rest (dropped) to its end instead of staying paused for good.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the source stayed paused after its destination was destroyed')), 20_000)));
      await Promise.race([once(src, 'end'), late]).finally(() => clearTimeout(timer));
      expect(src.isPaused()).toBe(false);
      src.destroy();
    } finally {
      for (const s of stuck) s.destroy();
      sender.close();
      receiver.close();
    }
  }, 60_000);

  it('does not pause a source whose destination was destroyed before it wrote', async () => {
    const { src } = fullSource();
    const dst = new Writable({ write: (_c, _e, done) => done() });
    dst.destroy();
    forward(src, dst);
    await once(src, 'end');
    expect(src.isPaused()).toBe(false);
  });
});
