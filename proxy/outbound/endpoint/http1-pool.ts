// A bounded pool of HTTP/1.1 connections to one endpoint: a request takes an idle connection,
// or opens one while under the bound, or waits in line; idle connections close after a while.
import type { Socket } from 'node:net';
import { ProxyError } from '../../errors.ts';
import { Http1Connection, type ConnectionOwner, type Http1Handler, type Http1Request } from './http1-connection.ts';

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
  /** Every connection that has been made, for destroy(). */
  private readonly all = new Set<Http1Connection>();
  /** A connection has been made (preconnect then has nothing to do). */
  private connectedOnce = false;

  constructor(private readonly opts: Http1PoolOptions) {}

  /** Requests in flight or waiting: the connector does not evict a busy endpoint. */
  get busy(): boolean {
    return this.open > this.idle.length || this.waiting.length > 0;
  }

  dispatch(request: Http1Request, handler: Http1Handler): void {
    if (this.closing) {
      handler.onError(new ProxyError('UPSTREAM_RESET', `${this.opts.label}: the endpoint's client is closed`));
      return;
    }
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
    if (this.connectedOnce || this.open > 0 || this.closing) return Promise.resolve();
    this.open++;
    return new Promise((resolve) => {
      this.opts.connect((err, socket) => {
        if (err || !socket) {
          this.open--;
          this.next();
        } else {
          this.connectedOnce = true;
          this.released(this.adopt(socket));
        }
        resolve();
      });
    });
  }

  /** Waits for requests in flight and waiting, then closes the connections. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.whenIdle = resolve;
      this.closeIfIdle();
    });
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
    conn.idleSince = Date.now();
    this.idle.push(conn);
    if (this.closing) return this.closeIfIdle();
    this.sweepTimer ??= setTimeout(this.sweep, this.opts.idleTimeoutMs / 4).unref();
  }

  closed(conn: Http1Connection, retry?: { request: Http1Request; handler: Http1Handler }): void {
    this.open--;
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (retry !== undefined && !this.destroyed) {
      retry.request.retried = true;
      // On a fresh connection, in the place this one freed: another idle one may be as stale.
      return this.connect(retry.request, retry.handler);
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
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (conn.usable) return conn;
      // The peer closed it (its FIN read, its teardown not yet run): never a request's connection.
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
      this.connectedOnce = true;
      const conn = this.adopt(socket);
      if (!this.destroyed) return conn.send(request, handler);
      socket.destroy(); // its 'close' gives the place back
      handler.onError(new ProxyError('UPSTREAM_RESET', `${this.opts.label}: the endpoint's client was destroyed`));
    });
  }

  private adopt(socket: Socket): Http1Connection {
    const conn = new Http1Connection(socket, this, this.opts.label);
    this.all.add(conn);
    return conn;
  }

  /**
   * Closes connections idle for most of `idleTimeoutMs`. It runs every quarter of it, so none
   * stays idle past the timeout: below the server's own keep-alive timeout, the pool never sends
   * on a connection the server is closing.
   */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    const oldest = Date.now() - this.opts.idleTimeoutMs * 0.75;
    // Oldest first: the idle list is in the order connections were released.
    while (this.idle.length > 0 && this.idle[0]!.idleSince <= oldest) this.idle.shift()!.socket.destroy();
    if (this.idle.length > 0) this.sweepTimer = setTimeout(this.sweep, this.opts.idleTimeoutMs / 4).unref();
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
