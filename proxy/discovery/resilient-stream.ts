// A server stream that comes back: reopened with jittered exponential backoff whenever it ends
// or fails, until stopped. Callers keep their last state meanwhile.
import type { Logger } from 'pino';

export interface Backoff {
  minMs: number;
  maxMs: number;
}

/**
 * A call as this stream uses it: the proxy's own calls (proxy/grpc/call.ts) and grpc-js's streams
 * (the viz's watches) both fit. An error's message is `<status> <NAME>: <details>` in both.
 */
export interface ReopenableCall<M> {
  on(event: 'data', listener: (message: M) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  /** The server is going away (GOAWAY on the call's connection); only the proxy's own calls say so. */
  on(event: 'draining', listener: () => void): unknown;
  cancel(): void;
}

export interface StreamHooks<M> {
  /** Opens a new call; throwing counts as a failure (e.g. no certificate yet). */
  open(): ReopenableCall<M>;
  /** A new call is open: the next message restarts the state from scratch. */
  onOpen?(call: ReopenableCall<M>): void;
  onMessage(message: M): void;
  /** The call failed or ended and will be reopened after a backoff (`why`: what the call said). */
  onLost?(why: string): void;
}

export class ResilientStream<M> {
  private call?: ReopenableCall<M>;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private stopped = false;
  /** No new call once the open one ends (`retire`). */
  private retired = false;

  constructor(
    private readonly what: string,
    private readonly hooks: StreamHooks<M>,
    private readonly backoff: Backoff,
    private readonly logger: Logger,
  ) {}

  /** Whether a call is open (not stopped, not waiting out a backoff, started). */
  get open(): boolean {
    return this.call !== undefined;
  }

  start(): void {
    if (this.stopped || this.call !== undefined) return;
    let call: ReopenableCall<M>;
    try {
      call = this.hooks.open();
    } catch (err) {
      this.retry(`cannot open: ${(err as Error).message}`);
      return;
    }
    this.call = call;
    this.hooks.onOpen?.(call);
    call.on('data', (m: M) => {
      this.attempt = 0; // a stream that delivers is healthy again
      this.hooks.onMessage(m);
    });
    let finished = false;
    /** This call is over for the stream (once): it opens again after the backoff. False if it was already over, or replaced. */
    const finish = (why: string, lost = true): boolean => {
      if (finished || this.call !== call) return false;
      finished = true;
      this.call = undefined;
      this.retry(why, lost);
      return true;
    };
    call.on('error', (err: Error) => finish(err.message));
    call.on('end', () => finish('stream ended'));
    // The server asked its connection to go away (a restart, a rolling update). The stream would
    // stay on it until the server cut it, or the channel's drain bound did (40 s): moved now to a
    // new connection, as Linkerd's proxy does. Nothing is lost (callers keep their state), so the
    // callers are not told; it goes through the backoff all the same, so a server that sends GOAWAY
    // on every connection cannot make a tight loop of it.
    call.on('draining', () => {
      if (finish('the server is going away (GOAWAY)', false)) call.cancel();
    });
  }

  /** Re-open now (e.g. after a certificate rotation), keeping the caller's state until data arrives. */
  restart(): void {
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    clearTimeout(this.timer);
    this.start();
  }

  /**
   * Keeps the open call, if any, but never opens another: once it ends, the stream is over. A
   * stream another one replaces (a registration moving to a new certificate's connection) is
   * retired so, and stopped once its successor is established; reopened meanwhile, it would
   * announce again and be taken for the newest.
   */
  retire(): void {
    this.retired = true;
    clearTimeout(this.timer);
    if (this.call === undefined) this.stopped = true;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const call = this.call;
    this.call = undefined;
    call?.cancel();
  }

  /** Opens the stream again after the backoff; `lost`: it failed or ended (a warning, and `onLost`), else it is moving. */
  private retry(why: string, lost = true): void {
    if (this.retired) this.stopped = true;
    if (this.stopped) return;
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.minMs * 2 ** this.attempt);
    // Full jitter between half and all of the ceiling: a restarted destination is not hit by
    // every proxy in the same millisecond.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt++;
    if (lost) {
      this.logger.warn({ stream: this.what, why, retryInMs: delay, attempt: this.attempt }, 'destination stream lost; keeping last state');
      this.hooks.onLost?.(why);
    } else {
      this.logger.info({ stream: this.what, why, retryInMs: delay, attempt: this.attempt }, 'destination stream moving to a new connection; keeping last state');
    }
    this.timer = setTimeout(() => this.start(), delay);
    this.timer.unref();
  }
}
