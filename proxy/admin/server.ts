// The proxy's admin listener (4191): /metrics for Prometheus, /ready and /live for probes,
// /identity for `mesh check`, POST /shutdown for the pod's own processes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../api/log.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import { shutdownRefusal } from './local-caller.ts';
import type { TlsCredentials } from '../identity/credentials.ts';
import { identitySummary } from './identity-summary.ts';

export interface AdminServerOptions {
  host: string;
  port: number;
  metrics: ProxyMetrics;
  /** `true` when the proxy can serve, else the reason it cannot (shown on /ready). */
  isReady: () => true | string;
  /** Called once the /shutdown response is written; the proxy drains and exits. */
  onShutdown: () => void;
  logger: Logger;
  /** The proxy's identity, summarised on /identity; absent when it runs without one. */
  credentials?: TlsCredentials;
}

/** Which methods each path answers; any other path is a 404. */
const ROUTES: Record<string, readonly string[]> = {
  '/metrics': ['GET', 'HEAD'],
  '/ready': ['GET', 'HEAD'],
  '/live': ['GET', 'HEAD'],
  '/identity': ['GET', 'HEAD'],
  '/shutdown': ['POST'],
};

/** How long close() lets an in-flight scrape finish before cutting its connection. */
const CLOSE_GRACE_MS = 2000;

export class AdminServer {
  private readonly server: Server;

  constructor(private readonly opts: AdminServerOptions) {
    this.server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(req, res, err));
    });
    // A client that sends garbage gets a 400 from node:http; say so in the log instead of staying silent.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      this.opts.logger.debug({ err, peer: socket.remoteAddress }, 'admin: bad request from client');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          Object.assign(new Error(`admin: cannot listen on ${this.opts.host}:${this.opts.port}: ${err.code ?? err.message}`), {
            code: err.code ?? 'LISTEN_FAILED',
            cause: err,
          }),
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.opts.logger.error({ err }, 'admin: listener error'));
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting, lets in-flight requests finish (up to a bound), resolves once closed. */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const force = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    force.unref();
    return closed.finally(() => clearTimeout(force));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // no endpoint reads a body; drain it so keep-alive works
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const methods = ROUTES[path];
    if (!methods) return reply(res, 404, `not found: ${path} (try /metrics, /ready, /live, /identity, POST /shutdown)\n`);
    if (!methods.includes(req.method ?? '')) {
      res.setHeader('allow', methods.join(', '));
      return reply(res, 405, `method ${req.method} not allowed on ${path}\n`);
    }
    switch (path) {
      case '/metrics': {
        const text = await this.opts.metrics.text();
        res.setHeader('content-type', this.opts.metrics.contentType);
        return reply(res, 200, text);
      }
      case '/ready': {
        const ready = this.opts.isReady();
        return ready === true ? reply(res, 200, 'ready\n') : reply(res, 503, `not ready: ${ready}\n`);
      }
      case '/live':
        return reply(res, 200, 'live\n');
      case '/identity':
        res.setHeader('content-type', 'application/json');
        return reply(res, 200, `${JSON.stringify(identitySummary(this.opts.credentials))}\n`);
      case '/shutdown':
        return this.shutdown(req, res);
    }
  }

  private shutdown(req: IncomingMessage, res: ServerResponse): void {
    const peer = req.socket.remoteAddress ?? 'unknown';
    const refusal = shutdownRefusal(peer, this.opts.host);
    if (refusal) {
      this.opts.logger.warn({ peer, reason: refusal }, 'admin: refused POST /shutdown');
      return reply(res, 403, `shutdown refused: ${refusal}\n`);
    }
    this.opts.logger.info({ peer }, 'admin: shutdown requested');
    res.once('finish', () => this.opts.onShutdown());
    reply(res, 200, 'shutdown\n');
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    this.opts.logger.error({ err, path: req.url }, 'admin: request failed');
    if (!res.headersSent) reply(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    else res.destroy();
  }
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  if (!res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
