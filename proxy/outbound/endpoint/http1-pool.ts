// A bounded pool of HTTP/1.1 connections to one endpoint: a request takes an idle connection,
// or opens one while under the bound, or waits in line; idle connections close after a while.
import type { Socket } from 'node:net';
import { ProxyError } from '../../errors.ts';
import { Http1Connection, type ConnectionOwner, type Http1Handler, type Http1Request, type Resend } from './http1-connection.ts';

export interface Http1PoolOptions {
  /** Most connections open at once; requests beyond them wait in line. */
  connections: number;
  /** An idle connection closes after at most this long. */
  idleTimeoutMs: number;
  /** What errors call the endpoint. */
  label: string;
  /** Opens one connection (plain or TLS), ready to write; calls back once. */
  connect(callback: (err: Error | null, socket?: Socket) => void): void;
}

export class Http1Pool implements ConnectionOwner {
  /** Idle connections, the most recently used last: it is taken first, so the others idle out. */
  private readonly idle: Http1Connection[] = [];
  private readonly waiting: Array<{ request: Http1Request; handler: Http1Handler }> = [];
  /** Connections open or opening. */
  private open = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private destroyed = false;
  private whenIdle: (() => void) | undefined;
  /** What close() returns, made on its first call. */
  private whenClosed: Promise<void> | undefined;
  /** Every connection that has been made, for destroy(). */
  private readonly all = new Set<Http1Connection>();
  /** A request has been dispatched (preconnect then has nothing to do). */
  private dispatched = false;

  /** How often idle connections are looked over: a quarter of the longest idle time. */
  private readonly sweepEveryMs: number;

  constructor(private readonly opts: Http1PoolOptions) {
    this.sweepEveryMs = Math.max(10, opts.idleTimeoutMs / 4);
  }

  /** Requests in flight or waiting: the connector does not evict a busy endpoint. */
  get busy(): boolean {
    return this.open > this.idle.length || this.waiting.length > 0;
  }

  dispatch(request: Http1Request, handler: Http1Handler): void {
    if (this.closing) {
      handler.onError(new ProxyError('UPSTREAM_RESET', `${this.opts.label}: the endpoint's client is closed`));
      return;
    }
    // A connection that carried a request: preconnect has nothing more to do. (A preconnected
    // one alone does not count: it may die unused, and then another is worth opening.)
    this.dispatched = true;
    const conn = this.takeIdle();
    if (conn !== undefined) conn.send(request, handler);
    else if (this.open < this.opts.connections) this.connect(request, handler);
    else this.waiting.push({ request, handler });
  }

  /**
   * Opens one connection ahead of the first request and keeps it idle, so that request finds it
   * up. Resolves once it is up or has failed (a failure is the request's to meet). A pool that
   * has connected before needs nothing.
   */
  preconnect(): Promise<void> {
    if (this.dispatched || this.open > 0 || this.closing) return Promise.resolve();
    this.open++;
    return new Promise((resolve) => {
      this.opts.connect((err, socket) => {
        if (err || !socket) {
          this.open--;
          this.next();
        } else {
          this.released(this.adopt(socket));
        }
        resolve();
      });
    });
  }

  /** Waits for requests in flight and waiting, then closes the connections. */
  close(): Promise<void> {
    this.closing = true;
    // One promise for every caller: a second close() waits for the same moment.
    return (this.whenClosed ??= new Promise((resolve) => {
      this.whenIdle = resolve;
      this.closeIfIdle();
    }));
  }

  /** Cuts every connection now; requests in flight and waiting fail. */
  destroy(): Promise<void> {
    this.closing = this.destroyed = true;
    for (const { handler } of this.waiting.splice(0)) handler.onError(new ProxyError('UPSTREAM_RESET', `${this.opts.label}: the endpoint's client was destroyed`));
    for (const conn of this.all) conn.socket.destroy();
    this.closeIfIdle();
    return Promise.resolve();
  }

  released(conn: Http1Connection): void {
    const next = this.waiting.shift();
    if (next !== undefined) return conn.send(next.request, next.handler);
    // From the end of its last exchange, not from now: a connection given back untouched (its
    // request refused or cancelled before a byte went out) has been idle, to the server, since then.
    conn.idleUntil = conn.idleSince + conn.keepAliveMs;
    this.idle.push(conn);
    if (this.closing) return this.closeIfIdle();
    this.sweepTimer ??= setTimeout(this.sweep, this.sweepEveryMs).unref();
  }

  closed(conn: Http1Connection, retry?: Resend): void {
    this.open--;
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (retry !== undefined) {
      // Destroyed: the request fails as every other one in flight does (its handler is all that
      // would ever settle it).
      if (this.destroyed) retry.handler.onError(new ProxyError('UPSTREAM_RESET', `${this.opts.label}: the endpoint's client was destroyed`));
      else {
        retry.request.retried = true;
        retry.handler.onResend?.(retry.why);
        // On a fresh connection, in the place this one freed: another idle one may be as stale.
        return this.connect(retry.request, retry.handler);
      }
    }
    this.next();
  }

  /** A connection came free of the bound: the first request in line opens one. */
  private next(): void {
    if (this.waiting.length > 0 && this.open < this.opts.connections) {
      const { request, handler } = this.waiting.shift()!;
      const conn = this.takeIdle();
      if (conn !== undefined) conn.send(request, handler);
      else this.connect(request, handler);
    }
    if (this.closing) this.closeIfIdle();
  }

  private takeIdle(): Http1Connection | undefined {
    if (this.idle.length === 0) return undefined;
    const now = Date.now();
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (conn.usable && conn.idleUntil > now) return conn;
      // The peer closed it (its FIN read, its teardown not yet run), or it has been idle past
      // its time (the sweep ran late): never a request's connection.
      conn.socket.destroy();
    }
    return undefined;
  }

  private connect(request: Http1Request, handler: Http1Handler): void {
    this.open++;
    this.opts.connect((err, socket) => {
      if (err || !socket) {
        this.open--;
        handler.onError(err ?? new ProxyError('CONNECT_FAILED', `${this.opts.label}: connect failed`));
        this.next();
        return;
      }
      const conn = this.adopt(socket);
      if (!this.destroyed) return conn.send(request, handler);
      socket.destroy(); // its 'close' gives the place back
      handler.onError(new ProxyError('UPSTREAM_RESET', `${this.opts.label}: the endpoint's client was destroyed`));
    });
  }

  private adopt(socket: Socket): Http1Connection {
    const conn = new Http1Connection(socket, this, this.opts.label, this.opts.idleTimeoutMs);
    this.all.add(conn);
    return conn;
  }

  /**
   * Closes the idle connections whose time would run out before the next sweep: none stays idle
   * past its keep-alive time, so the pool never sends on a connection the server is closing.
   */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    const closeBy = Date.now() + this.sweepEveryMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]!;
      if (conn.idleUntil <= closeBy) {
        this.idle.splice(i, 1);
        conn.socket.destroy();
      }
    }
    if (this.idle.length > 0) this.sweepTimer = setTimeout(this.sweep, this.sweepEveryMs).unref();
  };

  private closeIfIdle(): void {
    if (this.busy) return;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const resolve = this.whenIdle;
    this.whenIdle = undefined;
    resolve?.();
  }
}
