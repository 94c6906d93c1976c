// HTTP/1.1 to one endpoint over a bounded keep-alive pool of the proxy's own (http1-pool.ts),
// bodies streamed both ways: the request becomes a flat header list and a handler (http1-exchange.ts).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { MeshRequest, MeshResponse, Service } from '../../http/message.ts';
import { dial } from '../../transport/dial.ts';
import type { FlatHeaders } from './http1-request-head.ts';
import { Http1Exchange } from './http1-exchange.ts';
import { Http1Pool } from './http1-pool.ts';
import { dialTlsFor, type EndpointTarget } from './target.ts';

export interface Http1ClientOptions {
  /** Most connections to this endpoint; requests beyond it queue in the pool. */
  connections: number;
  /** An idle connection closes after at most this long (sooner if the server's `Keep-Alive` says so). */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Called for each new connection (metrics). */
  onConnection: (socket: Socket, tls: boolean) => void;
  /** Where a request sent again on a fresh connection is told (debug). */
  logger: Logger;
}

export class Http1Client {
  private readonly pool: Http1Pool;
  private readonly dstPort: string | undefined;
  private readonly logger: Logger;
  readonly service: Service;

  constructor(
    private readonly target: EndpointTarget,
    opts: Http1ClientOptions,
  ) {
    this.dstPort = target.dstPort === undefined ? undefined : String(target.dstPort);
    this.logger = opts.logger;
    const tls = dialTlsFor(target, 'http/1.1');
    const dialOpts = {
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      label: target.label,
      connectTimeoutMs: opts.connectTimeoutMs,
      tls,
    };
    this.pool = new Http1Pool({
      connections: opts.connections,
      idleTimeoutMs: opts.idleTimeoutMs,
      label: target.label,
      connect: (callback) =>
        dial(dialOpts, (err, socket) => {
          if (err) return callback(err);
          opts.onConnection(socket!, tls !== undefined);
          callback(null, socket);
        }),
    });
    this.service = (req) => this.send(req);
  }

  /**
   * Opens one connection ahead of the first request and keeps it idle in the pool, so that request
   * finds it up; resolves once it is up or has failed (a failure is the request's to meet). A
   * client that has sent before needs nothing.
   */
  preconnect(): Promise<void> {
    return this.pool.preconnect();
  }

  /** Requests running or queued: the connector does not evict a busy endpoint. */
  get busy(): boolean {
    return this.pool.busy;
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
    // Flat [name, value, ...] list, `host` first; repeated headers stay repeated.
    const headers: FlatHeaders = ['host', req.authority || this.target.address];
    for (const name in req.headers) {
      // `expect`: the server edge already answered the client's 100-continue.
      // `te` is hop-by-hop in HTTP/1.1 (it survives only for gRPC over HTTP/2).
      if (name === 'host' || name === 'expect' || name === 'te') continue;
      headers.push(name, req.headers[name]!);
    }
    if (this.dstPort !== undefined) headers.push('l5d-dst-port', this.dstPort);
    return new Promise((resolve, reject) => {
      this.pool.dispatch({ method: req.method, path: req.path, headers, body: req.body, trailers: req.trailers }, new Http1Exchange(req, this.target.label, resolve, reject, this.logger));
    });
  }
}
