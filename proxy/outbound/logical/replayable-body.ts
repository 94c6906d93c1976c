// A request body that streams to the first attempt while keeping a copy of up to 64 KiB, so a
// retry can send it again; past the cap the copy is dropped and the request is not retryable.
import { Readable, Transform } from 'node:stream';

export const RETRY_BUFFER_BYTES = 64 * 1024;

export class ReplayableBody {
  /** The stream the first attempt reads. */
  readonly first: Readable;
  private chunks: Buffer[] = [];
  private size = 0;
  private overflowed = false;
  private ended = false;

  constructor(source: Readable, private readonly cap = RETRY_BUFFER_BYTES) {
    const tee = new Transform({
      transform: (chunk: Buffer | string, _enc, cb) => {
        this.record(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        cb(null, chunk);
      },
      flush: (cb) => {
        this.ended = true;
        cb();
      },
    });
    // pipe, not pipeline: an attempt that abandons its body must not destroy the client's stream.
    source.on('error', (err) => tee.destroy(err));
    source.pipe(tee);
    this.first = tee;
  }

  /** True once the whole body has been read and it fitted the buffer. */
  replayable(): boolean {
    return this.ended && !this.overflowed;
  }

  /** A fresh copy of the body for a retry; call only when replayable(). */
  replay(): Readable {
    return Readable.from(this.chunks, { objectMode: false });
  }

  private record(chunk: Buffer): void {
    if (this.overflowed) return;
    this.size += chunk.length;
    if (this.size > this.cap) {
      this.overflowed = true;
      this.chunks = []; // never hold more than the cap
      return;
    }
    this.chunks.push(chunk);
  }
}
