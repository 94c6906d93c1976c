// HTTP/2 and gRPC to one endpoint: ONE multiplexed node:http2 session, reused by every request,
// rebuilt after GOAWAY or an error. Trailers pass both ways; cancellation becomes RST_STREAM.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ProxyError } from '../../errors.ts';
import type { MeshRequest, MeshResponse } from '../../http/message.ts';
import { dialAsync } from '../../transport/dial.ts';
import { useLeanAsyncResourceBind } from './async-resource-bind.ts';
import { exchange, type StreamHooks } from './h2-stream.ts';
import { dialTlsFor, type EndpointTarget } from './target.ts';
import { joinHostPort } from '../../../api/host-port.ts';

// 64 KiB windows cap bulk transfer on real networks; these still bound what one stream buffers.
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

// request()'s options, shared (Node copies them). The stream priority is HTTP/2's default, as
// Node sets it when none is given, but given here: Node then adds no properties to its copy of
// the options, which a request's pending-connect closure holds.
const DEFAULT_PRIORITY = { weight: http2.constants.NGHTTP2_DEFAULT_WEIGHT, parent: 0, exclusive: false, silent: false };
const NO_BODY = { endStream: true, ...DEFAULT_PRIORITY };
const BODY_AND_TRAILERS = { endStream: false, waitForTrailers: true, ...DEFAULT_PRIORITY };
const BODY_ONLY = { endStream: false, ...DEFAULT_PRIORITY };

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
  private readonly sockets = new WeakMap<ClientHttp2Session, Socket>();
  /** Sessions not yet closed, the current one and any still draining after GOAWAY. */
  private readonly opened = new Set<ClientHttp2Session>();
  /** The endpoint's Service; `mayRetry` false marks a request already sent once. */
  readonly service: (req: MeshRequest, mayRetry?: boolean) => Promise<MeshResponse>;
  /** Since when (`performance.now()`) no stream has been open: the idle sweep reads it. */
  private idleSince = 0;
  /** Closes an idle session (one timer per client while a session is open). */
  private idleSweep: NodeJS.Timeout | undefined;
  /** What a stream tells this client, one object for all its streams (no closures per request). */
  private readonly retried: StreamHooks = {
    onClose: () => {
      if (--this.active === 0) this.idleSince = performance.now();
    },
  };
  // REFUSED_STREAM promises the server did nothing with the request: send it once more, on this
  // session if it still takes streams, else on a new one.
  private readonly firstAttempt: StreamHooks = { ...this.retried, retryRefused: (req) => this.service(req, false) };
  /** `l5d-dst-port` as sent with every request (a string made once, not per request). */
  private readonly dstPortHeader: string | undefined;

  constructor(
    private readonly target: EndpointTarget,
    private readonly opts: H2ClientOptions,
  ) {
    // Each request() binds an AsyncResource: without Node 20's deprecated accessor on it (async-resource-bind.ts).
    useLeanAsyncResourceBind();
    this.dstPortHeader = target.dstPort === undefined ? undefined : String(target.dstPort);
    this.service = (req, mayRetry = true) => {
      // A live session is used synchronously: no extra promise hop on the hot path.
      const session = this.session;
      if (session && !session.closed && !session.destroyed) return this.send(session, req, mayRetry);
      return this.connect().then((s) => this.send(s, req, mayRetry));
    };
  }

  /** Opens the session ahead of the first request; resolves once it is up or has failed (the request will say how). */
  preconnect(): Promise<void> {
    const session = this.session;
    if (session && !session.closed && !session.destroyed) return Promise.resolve();
    return this.connect().then(() => {}, () => {});
  }

  get busy(): boolean {
    return this.active > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopIdleSweep();
    const session = this.session ?? (await this.connecting?.catch(() => undefined));
    this.session = undefined;
    const socket = session && this.sockets.get(session);
    if (session && socket) await retire(session, socket);
  }

  /** Cuts the sessions now, streams in flight included (after `close` ran out of time). */
  async destroy(): Promise<void> {
    this.closed = true;
    this.stopIdleSweep();
    for (const session of this.opened) session.destroy();
  }

  private connect(): Promise<ClientHttp2Session> {
    if (this.closed) return Promise.reject(new ProxyError('CONNECT_FAILED', `${this.target.label}: client closed`));
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<ClientHttp2Session> {
    const t = this.target;
    const tls = dialTlsFor(t, 'h2');
    const socket = await dialAsync({
      host: t.host,
      port: t.port,
      localAddress: t.localAddress,
      label: t.label,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      tls,
    });
    this.opts.onConnection(socket, tls !== undefined);
    const authority = `${tls ? 'https' : 'http'}://${joinHostPort(t.host, t.port)}`;
    // createConnection hands over the socket we dialled (no-delay set, identity verified).
    const session = http2.connect(authority, {
      createConnection: () => socket,
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 64,
    });
    const log = this.opts.logger;
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    session.on('error', (err) => {
      log.warn({ err, endpoint: t.label }, `HTTP/2 connection to ${t.label} failed: ${err.message}`);
      this.forget(session);
    });
    // After GOAWAY the session finishes its streams but takes no new ones: the next request
    // opens a new session, and this one is retired once its streams are done.
    session.on('goaway', (code) => {
      log.debug({ endpoint: t.label, code }, `HTTP/2 GOAWAY from ${t.label}`);
      this.forget(session);
      void retire(session, socket);
    });
    session.on('close', () => {
      this.forget(session);
      this.opened.delete(session);
    });
    this.opened.add(session);
    this.sockets.set(session, socket);
    this.session = session;
    if (this.active === 0) this.idleSince = performance.now();
    this.startIdleSweep();
    return session;
  }

  // Idle sessions are found by a sweep, not by Node's session timeout: that timeout is re-armed
  // on every frame and write of every stream (a timer-list move and a clock read each, several
  // per request), where a session idles only once its last stream has closed.
  private startIdleSweep(): void {
    if (this.idleSweep !== undefined) return;
    const every = Math.max(10, Math.floor(this.opts.idleTimeoutMs / 4));
    this.idleSweep = setInterval(() => this.closeIfIdle(), every);
    this.idleSweep.unref();
  }

  private stopIdleSweep(): void {
    clearInterval(this.idleSweep);
    this.idleSweep = undefined;
  }

  /** Retires the current session once no stream has been open on this client for `idleTimeoutMs`; the sweep stops with no session left. */
  private closeIfIdle(): void {
    const session = this.session;
    if (!session || session.closed || session.destroyed) {
      if (this.opened.size === 0 && !this.connecting) this.stopIdleSweep();
      return;
    }
    if (this.active !== 0 || performance.now() - this.idleSince < this.opts.idleTimeoutMs) return;
    const socket = this.sockets.get(session);
    if (socket) void retire(session, socket);
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
    if (this.dstPortHeader !== undefined) headers['l5d-dst-port'] = this.dstPortHeader;
    let stream: ClientHttp2Stream;
    try {
      // Trailers follow a body; a body-less request ends with its HEADERS frame.
      stream = session.request(headers, req.body === null ? NO_BODY : req.trailers !== undefined ? BODY_AND_TRAILERS : BODY_ONLY);
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
    return exchange(stream, req, this.target.label, mayRetry ? this.firstAttempt : this.retried);
  }
}

/**
 * Closes a session gracefully (open streams run to their end) and makes sure its connection goes:
 * Node then half-closes the socket and waits for the server's FIN, which a server that only sent
 * GOAWAY never sends, so the socket is destroyed once the session has no streams left.
 */
function retire(session: ClientHttp2Session, socket: Socket): Promise<void> {
  if (!session.closed) session.close();
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const reaper = setInterval(() => {
      if (session.destroyed) socket.destroy();
    }, 250);
    reaper.unref();
    socket.once('close', () => {
      clearInterval(reaper);
      resolve();
    });
  });
}
