// The HTTP/2 server edge (h2c with prior knowledge, gRPC, and h2 over mTLS): streams become
// MeshRequests; responses, trailers and resets flow back. Every session and stream has an
// 'error' listener, because an unhandled HTTP/2 error would end the process.
import {
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ProxyError } from '../errors.ts';
import { onBodyClose, type BodyCloseHook } from '../http/body-close.ts';
import { OwnedSignal } from '../http/cancel.ts';
import { forward, forwardedTo } from '../http/forward.ts';
import { endToEndHeaders } from '../http/hop-by-hop.ts';
import { isGrpc, type HeaderMap, type MeshRequest, type MeshResponse } from '../http/message.ts';
import { errorBody, errorResponse, pathForLog } from './error-response.ts';
import { callService, createContext, type ConnectionInfo, type EdgeOptions } from './request-context.ts';

const kConn = Symbol('mesh.connection');
type TaggedSession = ServerHttp2Session & { [kConn]?: ConnectionInfo };

export type Http2EdgeOptions = EdgeOptions;

export class Http2Edge {
  private readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(private readonly opts: Http2EdgeOptions) {
    this.server = createServer({
      maxHeaderListPairs: 2000,
      // What one client connection may hold in the proxy: streams x window is the most a client
      // can push before the proxy reads (256 x 256 KiB), and session memory caps it lower still.
      maxSessionMemory: 32,
      settings: { maxHeaderListSize: opts.maxHeaderBytes, maxConcurrentStreams: 256, initialWindowSize: 256 * 1024 },
    });
    this.server.on('session', (session: ServerHttp2Session) => this.onSession(session));
    this.server.on('stream', (stream, headers, flags) => this.onStream(stream, headers, flags));
    // Per-session errors are logged on the session; these catch anything raised before it exists.
    this.server.on('sessionError', () => {});
    this.server.on('unknownProtocol', (socket: Socket) => socket.destroy());
    opts.drain.onDrain(() => {
      for (const s of this.sessions) if (!s.closed) s.close();
    });
  }

  private pending: ConnectionInfo | undefined;

  /** Serve HTTP/2 on a socket whose preface was sniffed (and unshifted), or an ALPN-h2 TLS socket. */
  accept(socket: Socket, conn: ConnectionInfo): void {
    // 'session' fires synchronously inside emit('connection'): hand the info over through a field.
    this.pending = conn;
    this.server.emit('connection', socket);
    this.pending = undefined;
    socket.resume();
  }

  private onSession(session: ServerHttp2Session): void {
    const conn = this.pending ?? { peer: 'unknown', tls: false };
    (session as TaggedSession)[kConn] = conn;
    this.sessions.add(session);
    session.on('error', (err) => this.opts.logger.info({ peer: conn.peer, err: err.message }, `HTTP/2 connection from ${conn.peer} failed: ${err.message}`));
    session.on('frameError', (type, code) => this.opts.logger.info({ peer: conn.peer, type, code }, 'HTTP/2 frame error'));
    session.once('close', () => this.sessions.delete(session));
    session.setTimeout(0);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    const { opts } = this;
    const conn = (stream.session as TaggedSession | undefined)?.[kConn] ?? { peer: 'unknown', tls: false };
    const grpc = isGrpc(headers['content-type']);
    const ctx = createContext(opts.ids, opts.direction, conn, grpc, headers['grpc-timeout'] as string | undefined);
    opts.drain.begin();
    // The stream's state, read by listeners shared by every stream (`this` is the stream):
    // no closure per stream and listener.
    const state = new EdgeStream(opts, conn.peer, ctx.id);
    (stream as TaggedStream)[kEdge] = state;
    stream.on('error', onStreamError);
    // One 'close' listener per stream ('close' comes once, so no `once` wrapper).
    stream.on('close', onStreamClose);

    const method = headers[':method'] ?? 'GET';
    const authority = conn.connectTarget ?? headers[':authority'] ?? headers['host'] ?? conn.originalDst;
    if (method === 'CONNECT' || !authority || !headers[':path']) {
      const why = method === 'CONNECT' ? 'HTTP/2 CONNECT is not supported' : 'request has no :authority or :path';
      return this.writeError(stream, new ProxyError('BAD_REQUEST', why), grpc, ctx.id, method, headers[':path']);
    }
    const ended = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const meshReq: MeshRequest = {
      protocol: 'h2',
      method,
      scheme: headers[':scheme'] === 'https' ? 'https' : 'http',
      authority,
      path: headers[':path'],
      headers: endToEndHeaders(headers),
      // The stream itself: every reader of a request body only reads it (`forward`, `pipe`),
      // none destroys it, so no PassThrough stands between (the stream's own flow control is
      // the backpressure). A reader that stops early leaves it to the stream's close.
      body: ended ? null : stream,
      trailers: ended ? undefined : requestTrailers(stream, state),
      signal: state,
      ctx,
    };
    callService(opts.service, meshReq).then(
      (resp) => {
        if (resp.body instanceof Readable) state.upstreamBody = resp.body;
        try {
          this.writeResponse(stream, resp);
        } catch (err) {
          // A header HTTP/2 forbids (a connection-specific one an upstream sent, say).
          state.upstreamBody?.destroy();
          this.writeError(stream, new ProxyError('UPSTREAM_RESET', `response from upstream cannot be written: ${(err as Error).message}`), grpc, ctx.id, method, meshReq.path);
        }
      },
      (err: unknown) => this.writeError(stream, err, grpc, ctx.id, method, meshReq.path),
    );
  }

  private writeResponse(stream: ServerHttp2Stream, resp: MeshResponse): void {
    const body = resp.body;
    if (stream.destroyed || stream.closed) {
      if (body instanceof Readable) body.destroy();
      return;
    }
    const head: OutgoingHttpHeaders = { ...resp.headers, ':status': resp.status };
    if (body === null) {
      stream.respond(head, END_STREAM);
      return;
    }
    const trailers = resp.trailers;
    if (!(body instanceof Readable)) {
      // All of it at hand (an HTTP/1.1 response read whole): no trailers can follow such a body.
      stream.respond(head, NO_TRAILERS);
      stream.end(body);
      return;
    }
    stream.respond(head, trailers !== undefined ? WAIT_FOR_TRAILERS : NO_TRAILERS);
    if (trailers) {
      const edge = (stream as TaggedStream)[kEdge]!;
      edge.responseTrailers = trailers;
      stream.on('wantTrailers', onWantTrailers);
      onBodyClose(body, edge);
    }
    body.on('error', onResponseBodyError);
    // The stream's 'close' listener (onStream) destroys the body if the client leaves first.
    forward(body, stream);
  }

  private writeError(stream: ServerHttp2Stream, err: unknown, grpc: boolean, id: string, method: string, path: string | undefined): void {
    const e = errorResponse(err, grpc);
    this.opts.logger.warn(
      { request: id, method, path: path === undefined ? undefined : pathForLog(path), code: e.error.code, err: e.error.message },
      `proxy answered ${e.status}${grpc ? ` grpc-status ${e.headers['grpc-status']}` : ''}: ${e.error.message}`,
    );
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (grpc) stream.respond({ ...e.headers, ':status': e.status }, { endStream: true });
    else {
      stream.respond({ ...e.headers, ':status': e.status });
      stream.end(errorBody(e));
    }
  }
}

// respond()'s options, shared (Node copies them).
const END_STREAM = { endStream: true };
const WAIT_FOR_TRAILERS = { waitForTrailers: true };
const NO_TRAILERS = {};

const kEdge = Symbol('mesh.edge-stream');
type TaggedStream = ServerHttp2Stream & { [kEdge]?: EdgeStream };

/**
 * What the shared listeners below need of one server stream. It is also the request's signal
 * (aborted when the client resets the stream): one object per stream where there were two, and
 * it lives as long as the request.
 */
class EdgeStream extends OwnedSignal implements BodyCloseHook {
  /** The response body being written to the client, once there is one. */
  upstreamBody: Readable | null = null;
  /** The response's trailers, sent when the stream asks for them. */
  responseTrailers: Promise<HeaderMap | undefined> | undefined = undefined;
  /** Settles the request's trailers (set while they are awaited). */
  resolveTrailers: ((t: HeaderMap | undefined) => void) | undefined = undefined;

  constructor(
    readonly opts: Http2EdgeOptions,
    readonly peer: string,
    /** The request's id, for logs. */
    readonly id: string,
  ) {
    super();
  }

  settleTrailers(t: HeaderMap | undefined): void {
    const resolve = this.resolveTrailers;
    this.resolveTrailers = undefined;
    resolve?.(t);
  }

  /**
   * The upstream body of a response that waits for trailers (every HTTP/2 upstream's) closed.
   * With neither an end nor an error, the upstream reset its stream (CANCEL) while the body waited
   * here for the client to read it, and what it held is gone: the client's stream is reset, so it
   * never reads a cut body as whole. (Only a stream waiting for trailers can be reset with no
   * END_STREAM first: Node ends a stream's writable side before it resets it.)
   */
  bodyClosed(body: Readable): void {
    if (body.readableEnded || body.errored) return;
    this.cut(forwardedTo(body) as ServerHttp2Stream, 'the upstream stream was reset before the end of the response body');
  }

  /** The response body cannot be finished: the client's `stream` is reset, so it never reads a cut body as whole. */
  cut(stream: ServerHttp2Stream, why: string): void {
    if (stream.closed || stream.destroyed) return;
    this.opts.logger.warn({ request: this.id, err: why }, `response body from upstream cut short: ${why}; resetting the client stream`);
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }
}

function onStreamError(this: TaggedStream, err: Error): void {
  const state = this[kEdge]!;
  state.opts.logger.debug({ peer: state.peer, err: err.message }, 'HTTP/2 stream error');
}

/**
 * The request is over: a client that reset the stream cancels it, and a response body still
 * coming is cut; request trailers never sent are none.
 */
function onStreamClose(this: TaggedStream): void {
  const state = this[kEdge]!;
  state.opts.drain.end();
  if (!this.writableFinished || this.rstCode !== constants.NGHTTP2_NO_ERROR) {
    state.abort(new ProxyError('UPSTREAM_RESET', `client reset the stream (code ${this.rstCode})`));
  }
  const body = state.upstreamBody;
  if (body !== null && !body.readableEnded) body.destroy();
  state.settleTrailers(undefined);
}

/** The upstream's body failed mid-stream: the client's stream (the body's forward destination) is reset (CANCEL for a cancel). */
function onResponseBodyError(this: Readable, err: Error & { code?: string }): void {
  const stream = forwardedTo(this) as TaggedStream;
  const cancelled = err.name === 'AbortError' || err.code === 'ABORT_ERR';
  stream[kEdge]!.opts.logger.warn({ request: stream[kEdge]!.id, err: err.message }, 'response body from upstream failed mid-stream; resetting the client stream');
  stream.close(cancelled ? constants.NGHTTP2_CANCEL : constants.NGHTTP2_INTERNAL_ERROR);
}

function onWantTrailers(this: TaggedStream): void {
  const stream = this;
  stream[kEdge]!.responseTrailers!.then(
    // Closed (reset by the client) but not destroyed yet: sendTrailers would throw, unhandled.
    (t) => !stream.destroyed && !stream.closed && stream.sendTrailers(t ?? {}),
    (err: unknown) => stream[kEdge]!.cut(stream, (err as Error).message),
  );
}

/** The request's trailers: resolved when they come, or with undefined once the body ended without them. */
function requestTrailers(stream: ServerHttp2Stream, state: EdgeStream): Promise<HeaderMap | undefined> {
  const trailers = new Promise<HeaderMap | undefined>((resolve) => (state.resolveTrailers = resolve));
  // 'trailers' and 'end' come once at most: `on`, no `once` wrapper. The stream's 'close'
  // (onStreamClose) settles them too.
  stream.on('trailers', onRequestTrailers);
  stream.on('end', onRequestEnd);
  return trailers;
}

function onRequestTrailers(this: TaggedStream, t: IncomingHttpHeaders): void {
  this[kEdge]!.settleTrailers(endToEndHeaders(t));
}

function onRequestEnd(this: TaggedStream): void {
  // Node emits a stream's 'trailers' before its 'end' (the trailers' HEADERS frame is what ends
  // the stream, and 'end' waits for the buffer to be read): a body that ended without them has
  // none. No turn of the event loop is waited for (a setImmediate per request).
  this[kEdge]!.settleTrailers(undefined);
}
