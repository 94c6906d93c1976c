// HTTP/1.1 to one endpoint over a bounded keep-alive pool (undici's Pool), bodies streamed both ways.
// undici's dispatch API with a handler object: no body buffering and no promise per chunk.
import type { Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { Pool } from 'undici';
import { ProxyError } from '../../errors.ts';
import { endToEndHeaders } from '../../http/hop-by-hop.ts';
import type { HeaderMap, MeshRequest, MeshResponse, Service } from '../../http/message.ts';
import { dial } from '../../transport/dial.ts';
import { dialTlsFor, type EndpointTarget } from './target.ts';

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
  readonly service: Service;

  constructor(
    private readonly target: EndpointTarget,
    opts: Http1ClientOptions,
  ) {
    const tls = dialTlsFor(target, 'http/1.1');
    const dialOpts = { host: target.host, port: target.port, label: target.label, connectTimeoutMs: opts.connectTimeoutMs, tls };
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

  close(): Promise<void> {
    return this.pool.close();
  }

  private send(req: MeshRequest): Promise<MeshResponse> {
    // Flat [name, value, ...] list: undici takes it as is, and repeated headers stay repeated.
    const headers: Array<string | string[]> = ['host', req.authority || this.target.address];
    for (const name in req.headers) {
      // `expect` is refused by undici; the server edge already answered the client's 100-continue.
      if (name === 'host' || name === 'expect') continue;
      headers.push(name, req.headers[name]!);
    }
    if (this.target.dstPort !== undefined) headers.push('l5d-dst-port', String(this.target.dstPort));
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
      this.pool.dispatch(
        { origin: undefined, path: req.path, method: req.method, headers: headers as unknown as string[], body, reset: false },
        exchange,
      );
    });
  }
}

const NO_BODY_STATUS = new Set([204, 304]);

/** One request's lifecycle callbacks from undici (its legacy handler API, which it calls directly). */
class Http1Exchange {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private body: ResponseBody | null = null;
  private responded = false;
  private resolveTrailers: ((t: HeaderMap | undefined) => void) | undefined;
  private readonly onCancel = (): void => {
    this.abortUpstream?.(new ProxyError('UPSTREAM_RESET', `${this.label}: request cancelled by the client`));
  };

  constructor(
    private readonly req: MeshRequest,
    private readonly label: string,
    private readonly resolve: (res: MeshResponse) => void,
    private readonly reject: (err: ProxyError) => void,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.req.signal.aborted) this.onCancel();
    else this.req.signal.addEventListener('abort', this.onCancel, { once: true });
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (status < 200) return true; // informational (100 Continue): the edge makes its own.
    this.responded = true;
    const headers = endToEndHeaders(parseRawHeaders(rawHeaders));
    const hasBody = this.req.method !== 'HEAD' && !NO_BODY_STATUS.has(status);
    if (hasBody) this.body = new ResponseBody(resume, this);
    const trailers = new Promise<HeaderMap | undefined>((r) => (this.resolveTrailers = r));
    this.resolve({ status, headers, body: this.body, trailers });
    return true;
  }

  onData(chunk: Buffer): boolean {
    // false pauses the socket until the consumer reads again (ResponseBody._read): backpressure.
    return this.body ? this.body.push(chunk) : true;
  }

  onComplete(rawTrailers: Array<Buffer | string> | null): void {
    this.done();
    this.body?.push(null);
    this.resolveTrailers?.(rawTrailers && rawTrailers.length > 0 ? endToEndHeaders(parseRawHeaders(rawTrailers)) : undefined);
  }

  onError(err: Error): void {
    this.done();
    const error = toProxyError(err, this.label);
    if (!this.responded) this.reject(error);
    else {
      this.body?.destroy(error);
      this.resolveTrailers?.(undefined);
    }
  }

  /** The consumer dropped the body before its end: stop the upstream request too. */
  cancelFromBody(err: Error | null): void {
    this.abortUpstream?.(err ?? new ProxyError('UPSTREAM_RESET', `${this.label}: response body abandoned`));
  }

  private done(): void {
    this.req.signal.removeEventListener('abort', this.onCancel);
  }
}

class ResponseBody extends Readable {
  private ended = false;
  constructor(
    private readonly resumeUpstream: () => void,
    private readonly exchange: Http1Exchange,
  ) {
    super();
  }
  override _read(): void {
    this.resumeUpstream();
  }
  override push(chunk: Buffer | null): boolean {
    if (chunk === null) this.ended = true;
    return super.push(chunk);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.ended) this.exchange.cancelFromBody(err);
    cb(err);
  }
}

function parseRawHeaders(raw: Array<Buffer | string>): HeaderMap {
  const out: HeaderMap = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(raw[i]!).toLowerCase();
    const value = text(raw[i + 1]!);
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

function text(raw: Buffer | string): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

function toProxyError(err: Error, label: string): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: string }).code;
  // undici refuses what it cannot send (a header value with CR/LF, say): the request's fault.
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
    return new ProxyError('BAD_REQUEST', `${label}: cannot send the request: ${err.message}`, { cause: err });
  }
  if (code === 'UND_ERR_SOCKET') {
    return new ProxyError('UPSTREAM_RESET', `${label}: connection closed before the response completed`, { cause: err });
  }
  return new ProxyError('UPSTREAM_RESET', `${label}: ${err.message}`, { cause: err });
}
