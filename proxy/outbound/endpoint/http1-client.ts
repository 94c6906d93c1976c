// HTTP/1.1 to one endpoint over a bounded keep-alive pool (undici's Pool), bodies streamed both ways.
// undici's dispatch API with a handler object: no body buffering and no promise per chunk.
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
// By path, not from undici's index: see undici-parts.d.ts.
import Pool from 'undici/lib/dispatcher/pool.js';
import type { MeshRequest, MeshResponse, Service } from '../../http/message.ts';
import { dial, type DialOptions } from '../../transport/dial.ts';
import { Http1Exchange } from './http1-exchange.ts';
import { dialTlsFor, type EndpointTarget } from './target.ts';
import { joinHostPort } from '../../../api/host-port.ts';

/**
 * Without a `servername`, undici derives a TLS server name from each request's Host header (a
 * hostname parse and net.isIP's IPv4 and IPv6 regexes, per request). It only matters to undici's
 * own TLS connector on https: origins; these pools are http: origins whose connections dial.ts
 * makes (verifying the SPIFFE identity, not a server name), so a fixed name spares the work.
 */
const UNUSED_SERVERNAME = 'mesh-endpoint';

export interface Http1ClientOptions {
  /** Most connections to this endpoint; requests beyond it queue in the pool. */
  connections: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Called for each new connection (metrics). */
  onConnection: (socket: Socket, tls: boolean) => void;
}

export class Http1Client {
  private readonly pool: Pool;
  private readonly dstPort: string | undefined;
  private readonly dialOpts: DialOptions;
  private readonly opts: Http1ClientOptions;
  /** A connection opened by preconnect() and not yet handed to the pool: its first request takes it. */
  private spare: Socket | undefined;
  /** The spare's own 'error', 'end' and 'close' listener, removed when the pool takes it. */
  private spareDropped: (() => void) | undefined;
  /** The pool has had a connection: preconnect has nothing to do. A spare alone does not count, since it may die unused. */
  private connected = false;
  readonly service: Service;

  constructor(
    private readonly target: EndpointTarget,
    opts: Http1ClientOptions,
  ) {
    this.dstPort = target.dstPort === undefined ? undefined : String(target.dstPort);
    this.opts = opts;
    const tls = dialTlsFor(target, 'http/1.1');
    const dialOpts = (this.dialOpts = {
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      label: target.label,
      connectTimeoutMs: opts.connectTimeoutMs,
      tls,
    });
    this.pool = new Pool(`http://${joinHostPort(target.host, target.port)}`, {
      connections: opts.connections,
      pipelining: 1,
      // Below the server's keep-alive timeout (Node's default is 5 s), so the pool never
      // sends on a connection the server is closing.
      keepAliveTimeout: opts.idleTimeoutMs,
      keepAliveMaxTimeout: opts.idleTimeoutMs,
      // Timeouts belong to the route layers above; a long poll or a slow stream is legitimate.
      headersTimeout: 0,
      bodyTimeout: 0,
      maxHeaderSize: 96 * 1024,
      connect: (_options, callback) => {
        const spare = this.takeSpare();
        if (spare) {
          this.connected = true;
          // Called back on a later tick, as a dial would: undici's connect does not expect it at once.
          return process.nextTick(callback, null, spare);
        }
        dial(dialOpts, (err, socket) => {
          if (err) return callback(err, null);
          this.connected = true;
          opts.onConnection(socket!, tls !== undefined);
          callback(null, socket!);
        });
      },
    });
    this.service = (req) => this.send(req);
  }

  /**
   * Opens one connection ahead of the first request and keeps it for the pool, so that request
   * finds it up; resolves once it is up or has failed (a failure is the request's to meet). A
   * client that has connected before needs nothing.
   */
  preconnect(): Promise<void> {
    if (this.connected || this.spare) return Promise.resolve();
    return new Promise((resolve) => {
      dial(this.dialOpts, (err, socket) => {
        if (err || !socket || this.connected || this.spare) {
          socket?.destroy();
          return resolve();
        }
        this.opts.onConnection(socket, this.dialOpts.tls !== undefined);
        this.spare = socket;
        // Until the pool takes it, nothing else listens: a reset, or the peer closing it (its FIN,
        // 'end', comes a moment before 'close'), must not go unheard, or a dead connection would
        // be handed to the next request, which would fail on it.
        const dropped = (this.spareDropped = () => {
          if (this.spare === socket) this.spare = undefined;
          socket.destroy();
        });
        socket.on('error', dropped);
        socket.once('end', dropped);
        socket.once('close', dropped);
        // Not taken within the idle timeout: closed, as the pool would close an idle connection.
        setTimeout(() => {
          if (this.spare === socket) this.takeSpare()?.destroy();
        }, this.opts.idleTimeoutMs).unref();
        resolve();
      });
    });
  }

  private takeSpare(): Socket | undefined {
    const spare = this.spare;
    this.spare = undefined;
    if (!spare) return undefined;
    spare.removeListener('error', this.spareDropped!); // the pool's own listeners take over
    spare.removeListener('end', this.spareDropped!);
    spare.removeListener('close', this.spareDropped!);
    // Closed, or closed by the peer and not yet torn down: never a request's connection.
    if (spare.destroyed || spare.readableEnded || !spare.writable) {
      spare.destroy();
      return undefined;
    }
    return spare;
  }

  /** Requests running or queued: the connector does not evict a busy endpoint. */
  get busy(): boolean {
    const stats = this.pool.stats;
    return stats.running > 0 || stats.pending > 0;
  }

  /** Waits for requests in flight, then closes the connections. */
  close(): Promise<void> {
    this.takeSpare()?.destroy();
    return this.pool.close();
  }

  /** Cuts every connection now; requests in flight fail. */
  destroy(): Promise<void> {
    this.takeSpare()?.destroy();
    return this.pool.destroy();
  }

  private send(req: MeshRequest): Promise<MeshResponse> {
    // Flat [name, value, ...] list: undici takes it as is, and repeated headers stay repeated.
    const headers: Array<string | string[]> = ['host', req.authority || this.target.address];
    for (const name in req.headers) {
      // `expect` is refused by undici; the server edge already answered the client's 100-continue.
      // `te` is hop-by-hop in HTTP/1.1 (it survives only for gRPC over HTTP/2).
      if (name === 'host' || name === 'expect' || name === 'te') continue;
      headers.push(name, req.headers[name]!);
    }
    if (this.dstPort !== undefined) headers.push('l5d-dst-port', this.dstPort);
    let body: PassThrough | null = null;
    if (req.body) {
      // undici destroys a stream body once sent; the request's own stream (an HTTP/2 stream,
      // say) must outlive that, so undici gets a PassThrough.
      body = new PassThrough();
      const source = req.body;
      source.once('error', (err) => body!.destroy(err));
      source.pipe(body);
    }
    return new Promise((resolve, reject) => {
      const exchange = new Http1Exchange(req, this.target.label, resolve, reject);
      // `servername` is read by undici's Request though its typings leave it out, hence the wider type.
      const options: Dispatcher.DispatchOptions & { servername: string } = {
        path: req.path,
        method: req.method,
        headers: headers as unknown as string[],
        body,
        reset: false,
        servername: UNUSED_SERVERNAME,
      };
      this.pool.dispatch(options, exchange);
    });
  }
}
