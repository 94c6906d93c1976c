// Tracks one listener side's open connections and in-flight requests, so shutdown can stop
// accepting, let in-flight work finish up to a bound, then close whatever is left.
import type { Socket } from 'node:net';

export class Drain {
  private inFlight = 0;
  private started = 0;
  private readonly sockets = new Set<Socket>();
  private idleWaiters: Array<() => void> = [];
  /** Set when shutdown begins: edges answer new requests with `connection: close` / GOAWAY. */
  draining = false;
  private readonly closers = new Set<() => void>();

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Requests begun since the proxy started (the idle GC reads how many arrive per interval). */
  get requestsStarted(): number {
    return this.started;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  trackSocket(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  begin(): void {
    this.inFlight++;
    this.started++;
  }

  end(): void {
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Something to call when draining starts (close idle HTTP/1 sockets, GOAWAY HTTP/2 sessions). */
  onDrain(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  /** Start draining; resolves when no request is in flight or `graceMs` has passed. */
  async drain(graceMs: number): Promise<{ unfinished: number }> {
    this.draining = true;
    for (const close of this.closers) close();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { unfinished: this.inFlight };
  }

  /** Close every connection still open (after the grace period). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
