// The HTTP/1.1 edge's two connection timeouts, kept by one sweep per edge rather than a timer per
// connection or request: a head that does not arrive within `--headers-timeout-ms` (then 408), and
// a keep-alive connection idle for `--keepalive-timeout-ms` (then closed). A connection stamps the
// sweep's tick count when it starts waiting, which costs no clock read and no timer per request.

/** A connection the sweep looks at. */
export interface SweptConnection {
  /** The tick its head began arriving (or it opened), or -1 when no head is awaited. */
  headSince: number;
  /** The tick it fell idle between requests, or -1 when it is not idle. */
  idleSince: number;
  headTimedOut(ms: number): void;
  idleTimedOut(): void;
}

export class ConnectionSweep<C extends SweptConnection = SweptConnection> {
  /** Ticks since the sweep began; connections stamp it. */
  tick = 0;
  readonly connections = new Set<C>();
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  private readonly headTicks: number;
  private readonly idleTicks: number;

  constructor(
    private readonly headersTimeoutMs: number,
    keepAliveTimeoutMs: number,
  ) {
    // A quarter of the shorter timeout, at most a second: a timeout fires between its length and
    // one interval later (node:http's own check ran every 30 s), never before. 0 turns one off.
    const shorter = Math.min(headersTimeoutMs > 0 ? headersTimeoutMs : Infinity, keepAliveTimeoutMs > 0 ? keepAliveTimeoutMs : Infinity);
    this.intervalMs = Math.max(10, Math.min(1_000, Math.floor(shorter / 4)));
    this.headTicks = headersTimeoutMs > 0 ? Math.ceil(headersTimeoutMs / this.intervalMs) + 1 : Infinity;
    this.idleTicks = keepAliveTimeoutMs > 0 ? Math.ceil(keepAliveTimeoutMs / this.intervalMs) + 1 : Infinity;
  }

  add(conn: C): void {
    this.connections.add(conn);
    // Runs only while there are connections: an idle proxy wakes for nothing.
    if (this.timer === null) this.timer = setInterval(this.sweep, this.intervalMs).unref();
  }

  delete(conn: C): void {
    this.connections.delete(conn);
    if (this.connections.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private readonly sweep = (): void => {
    const tick = ++this.tick;
    for (const conn of this.connections) {
      if (conn.headSince >= 0 && tick - conn.headSince >= this.headTicks) conn.headTimedOut(this.headersTimeoutMs);
      else if (conn.idleSince >= 0 && tick - conn.idleSince >= this.idleTicks) conn.idleTimedOut();
    }
  };
}
