// HTTP/2 and gRPC to one endpoint: ONE multiplexed node:http2 session, reused by every request,
// rebuilt after GOAWAY or an error. Trailers pass both ways; cancellation becomes RST_STREAM.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ProxyError } from '../../errors.ts';
import { endToEndHeaders } from '../../http/hop-by-hop.ts';
import type { HeaderMap, MeshRequest, MeshResponse, Service } from '../../http/message.ts';
import { dialAsync } from '../../transport/dial.ts';
import { dialTlsFor, type EndpointTarget } from './target.ts';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants;

// 64 KiB windows cap bulk transfer on real networks; these still bound what one stream buffers.
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

export interface H2ClientOptions {
  /** A session with no open stream for this long is closed. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  logger: Logger;
  onConnection: (socket: Socket, tls: boolean) => void;
}

export class H2Client {
  private session: ClientHttp2Session | undefined;
  private connecting: Promise<ClientHttp2Session> | undefined;
  /** Streams open on any session of this client; an idle session closes only at zero. */
  active = 0;
  private closed = false;
  readonly service: Service;

  constructor(
    private readonly target: EndpointTarget,
    private readonly opts: H2ClientOptions,
  ) {
    this.service = (req) => {
      // A live session is used synchronously: no extra promise hop on the hot path.
      const session = this.session;
      if (session && !session.closed && !session.destroyed) return this.send(session, req, true);
      return this.connect().then((s) => this.send(s, req, true));
    };
  }

  get busy(): boolean {
    return this.active > 0;
  }

  /** Sessions made so far, for tests and logs. */
  sessionsOpened = 0;

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session ?? (await this.connecting?.catch(() => undefined));
    this.session = undefined;
    if (session && !session.destroyed) await new Promise<void>((resolve) => session.close(resolve));
  }

  private connect(): Promise<ClientHttp2Session> {
    if (this.closed) return Promise.reject(new ProxyError('CONNECT_FAILED', `${this.target.label}: client closed`));
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<ClientHttp2Session> {
    const t = this.target;
    const tls = dialTlsFor(t, 'h2');
    const socket = await dialAsync({ host: t.host, port: t.port, label: t.label, connectTimeoutMs: this.opts.connectTimeoutMs, tls });
    this.opts.onConnection(socket, tls !== undefined);
    const authority = `${tls ? 'https' : 'http'}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
    // createConnection hands over the socket we dialled (no-delay set, identity verified).
    const session = http2.connect(authority, {
      createConnection: () => socket,
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 64,
    });
    this.sessionsOpened++;
    const log = this.opts.logger;
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    session.on('error', (err) => {
      log.warn({ err, endpoint: t.label }, `HTTP/2 connection to ${t.label} failed: ${err.message}`);
      this.forget(session);
    });
    // After GOAWAY the session finishes its streams but takes no new ones: the next request
    // opens a new session.
    session.on('goaway', (code) => {
      log.debug({ endpoint: t.label, code }, `HTTP/2 GOAWAY from ${t.label}`);
      this.forget(session);
    });
    session.on('close', () => this.forget(session));
    session.setTimeout(this.opts.idleTimeoutMs, () => {
      if (this.active === 0) session.close();
    });
    this.session = session;
    return session;
  }

  private forget(session: ClientHttp2Session): void {
    if (this.session === session) this.session = undefined;
  }

  private send(session: ClientHttp2Session, req: MeshRequest, mayRetry: boolean): Promise<MeshResponse> {
    const headers: OutgoingHttpHeaders = {
      ':method': req.method,
      ':scheme': req.scheme,
      ':authority': req.authority || this.target.address,
      ':path': req.path,
    };
    for (const name in req.headers) if (name !== 'host') headers[name] = req.headers[name];
    if (this.target.dstPort !== undefined) headers['l5d-dst-port'] = String(this.target.dstPort);
    const requestTrailers = req.trailers;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, {
        endStream: req.body === null && requestTrailers === undefined,
        waitForTrailers: requestTrailers !== undefined,
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      // The session went away between our check and the request (GOAWAY raced us): nothing
      // was sent, so a new session may carry it.
      if (mayRetry && (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION')) {
        this.forget(session);
        return this.connect().then((s) => this.send(s, req, false));
      }
      // Node refuses headers HTTP/2 forbids (connection-specific ones, bad names or values).
      const kind = code?.startsWith('ERR_HTTP2_INVALID') || code === 'ERR_INVALID_HTTP_TOKEN' || code === 'ERR_INVALID_CHAR' ? 'BAD_REQUEST' : 'UPSTREAM_RESET';
      return Promise.reject(new ProxyError(kind, `${this.target.label}: ${(err as Error).message}`, { cause: err }));
    }
    this.active++;
    return new Promise((resolve, reject) => this.exchange(stream, req, mayRetry, resolve, reject));
  }

  private exchange(
    stream: ClientHttp2Stream,
    req: MeshRequest,
    mayRetry: boolean,
    resolve: (res: MeshResponse) => void,
    reject: (err: ProxyError) => void,
  ): void {
    const label = this.target.label;
    let responded = false;
    let failure: Error | undefined;
    let resolveTrailers: (t: HeaderMap | undefined) => void = () => {};
    const cancel = (): void => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    };
    if (req.signal.aborted) cancel();
    else req.signal.addEventListener('abort', cancel, { once: true });

    if (req.body) {
      const source = req.body;
      source.once('error', cancel);
      source.pipe(stream);
    } else if (req.trailers) {
      stream.end();
    }
    if (req.trailers) {
      const trailersOf = req.trailers;
      stream.once('wantTrailers', () => {
        trailersOf.then(
          (t) => {
            if (!stream.destroyed) stream.sendTrailers(t ?? {});
          },
          () => cancel(),
        );
      });
    }

    stream.on('response', (raw, flags) => {
      if (responded) return;
      responded = true;
      const status = Number(raw[':status']);
      const endOfStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      // Trailers-only (gRPC errors) or an empty body: nothing to stream, but drain so the stream closes.
      if (endOfStream) stream.resume();
      const trailers = new Promise<HeaderMap | undefined>((r) => (resolveTrailers = r));
      resolve({ status, headers: endToEndHeaders(raw), body: endOfStream ? null : stream, trailers });
    });
    stream.on('trailers', (raw) => resolveTrailers(endToEndHeaders(raw)));
    // The consumer of the body sees errors too; this listener keeps a bad stream from killing the process.
    stream.on('error', (err) => {
      // Before a response, 'close' decides (it may retry a refused stream); after, the body's reader sees it.
      if (!responded) failure = err;
    });
    stream.once('close', () => {
      this.active--;
      req.signal.removeEventListener('abort', cancel);
      resolveTrailers(undefined);
      // A reset with NO_ERROR or CANCEL closes the stream without an 'error': a missing
      // response has to be noticed here.
      if (!responded) {
        responded = true;
        // REFUSED_STREAM promises the server did nothing with the request: without a body
        // already spent, it is safe to send it once more (on a new session after GOAWAY).
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM && mayRetry && req.body === null && !req.signal.aborted) {
          const session = this.session;
          const retry = session && !session.closed && !session.destroyed ? this.send(session, req, false) : this.connect().then((s) => this.send(s, req, false));
          retry.then(resolve, reject);
          return;
        }
        const why = req.signal.aborted
          ? 'request cancelled by the client'
          : stream.rstCode === NGHTTP2_REFUSED_STREAM
            ? 'stream refused by the server'
            : failure
              ? failure.message
              : `stream reset (code ${stream.rstCode ?? 'none'}) before the response`;
        reject(new ProxyError('UPSTREAM_RESET', `${label}: ${why}`, { cause: failure }));
      }
    });
  }
}
