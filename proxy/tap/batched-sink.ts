// A tap's events on their way to its gRPC stream, written in batches: held for a few
// milliseconds, then framed together and written as one buffer, so that the HTTP/2 session sends
// one DATA frame and one TLS write (and wakes the tapper once) per batch instead of per event.
import { frameMessages } from '../grpc/wire.ts';
import type { TapSink } from './hub.ts';

/** What the sink needs of the call (`ObserveCall`). */
export interface EventStream {
  /** `count` events, each with its gRPC length prefix, in one buffer. */
  write(framed: Buffer, count: number): void;
  end(): void;
  /** Events written but not yet taken by the network. */
  readonly backlog: number;
  readonly closed: boolean;
}

/** Longest an event waits before it is written: below what a person watching a tap notices, and long enough that a tap at its full rate (300 events a second) writes ~30 events a batch. */
export const TAP_FLUSH_MS = 100;
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
    return this.queue.length + this.call.backlog;
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
    if (batch.length === 0 || this.call.closed) return;
    this.call.write(frameMessages(batch), batch.length);
  }
}
