// A tap's events on their way to its gRPC stream, written in batches: held for a few
// milliseconds, then written in one go, so that the HTTP/2 session sends them as one TLS write
// (and wakes the tapper once) instead of one write, one record and one wake-up per event.
import type { TapSink } from './hub.ts';

/** What the sink needs of the gRPC call (grpc-js's `ServerWritableStream`). */
export interface EventStream {
  write(event: Buffer): unknown;
  end(): unknown;
  readonly writableLength: number;
  readonly cancelled: boolean;
}

/** Longest an event waits before it is written: far below what a person watching a tap notices. */
export const TAP_FLUSH_MS = 20;
/** A batch this large is written at once, whatever the time. */
export const TAP_MAX_BATCH = 64;

export class BatchedSink implements TapSink {
  private queue: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly call: EventStream,
    private readonly flushMs = TAP_FLUSH_MS,
    private readonly maxBatch = TAP_MAX_BATCH,
  ) {}

  write(event: Buffer): void {
    this.queue.push(event);
    if (this.queue.length >= this.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Events held here and those the stream has not handed to the network yet. */
  backlog(): number {
    return this.queue.length + this.call.writableLength;
  }

  /** Writes what is held, then ends the stream. */
  end(): void {
    this.flush();
    this.call.end();
  }

  /** The tap closed: what is still held goes nowhere (the caller is gone). */
  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (this.call.cancelled) return;
    for (const event of batch) this.call.write(event);
  }
}
