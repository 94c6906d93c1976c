// HTTP/1.1 to one endpoint over a bounded keep-alive pool (undici's Pool), bodies streamed both ways.
// undici's dispatch API with a handler object: no body buffering and no promise per chunk.
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
// By path, not from undici's index: see undici-parts.d.ts.
import Pool from 'undici/lib/dispatcher/pool.js';
import type { MeshRequest, MeshResponse, Service } from '../../http/message.ts';
import { dial } from '../../transport/dial.ts';
import { Http1Exchange } from './http1-exchange.ts';
import { dialTlsFor, type EndpointTarget } from './target.ts';

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
  readonly service: Service;

  constructor(
    private readonly target: EndpointTarget,
    opts: Http1ClientOptions,
  ) {
    this.dstPort = target.dstPort === undefined ? undefined : String(target.dstPort);
    const tls = dialTlsFor(target, 'http/1.1');
    const dialOpts = {
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      label: target.label,
      connectTimeoutMs: opts.connectTimeoutMs,
      tls,
    };
    this.pool = new Pool(`http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`, {
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
        dial(dialOpts, (err, socket) => {
          if (err) return callback(err, null);
          opts.onConnection(socket!, tls !== undefined);
          callback(null, socket!);
        });
      },
    });
    this.service = (req) => this.send(req);
  }

  /** Requests running or queued: the connector does not evict a busy endpoint. */
  get busy(): boolean {
    const stats = this.pool.stats;
    return stats.running > 0 || stats.pending > 0;
  }

  /** Waits for requests in flight, then closes the connections. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Cuts every connection now; requests in flight fail. */
  destroy(): Promise<void> {
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
