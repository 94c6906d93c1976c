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
import { PassThrough, type Readable } from 'node:stream';
import { ProxyError } from '../errors.ts';
import { abortOwned, ownedSignal } from '../http/cancel.ts';
import { forward } from '../http/forward.ts';
import { endToEndHeaders } from '../http/hop-by-hop.ts';
import { isGrpc, type HeaderMap, type MeshRequest, type MeshResponse } from '../http/message.ts';
import { errorBody, errorResponse } from './error-response.ts';
import { createContext, type ConnectionInfo, type EdgeOptions } from './request-context.ts';

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
    stream.on('error', (err) => opts.logger.debug({ peer: conn.peer, err: err.message }, 'HTTP/2 stream error'));
    const contentType = headers['content-type'];
    const grpc = isGrpc(contentType);
    const ctx = createContext(opts.ids, opts.direction, conn, grpc, headers['grpc-timeout'] as string | undefined);
    opts.drain.begin();
    const abort = new AbortController();
    let upstreamBody: Readable | null = null;
    // One 'close' listener per stream ('close' comes once, so no `once` wrapper): the request is
    // over; a client that reset the stream cancels it, and a response body still coming is cut.
    stream.on('close', () => {
      opts.drain.end();
      if (!stream.writableFinished || stream.rstCode !== constants.NGHTTP2_NO_ERROR) {
        abortOwned(abort, new ProxyError('UPSTREAM_RESET', `client reset the stream (code ${stream.rstCode})`));
      }
      if (upstreamBody !== null && !upstreamBody.readableEnded) upstreamBody.destroy();
    });

    const method = headers[':method'] ?? 'GET';
    const authority = conn.connectTarget ?? headers[':authority'] ?? headers['host'] ?? conn.originalDst;
    if (method === 'CONNECT' || !authority || !headers[':path']) {
      const why = method === 'CONNECT' ? 'HTTP/2 CONNECT is not supported' : 'request has no :authority or :path';
      return this.writeError(stream, new ProxyError('BAD_REQUEST', why), grpc, ctx.id);
    }
    const ended = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    let body: PassThrough | null = null;
    if (!ended) {
      // A PassThrough, because a client that is done with a body destroys it, which would reset the stream.
      body = new PassThrough({ highWaterMark: 64 * 1024 });
      forward(stream, body);
    }
    const meshReq: MeshRequest = {
      protocol: 'h2',
      method,
      scheme: headers[':scheme'] === 'https' ? 'https' : 'http',
      authority,
      path: headers[':path'],
      headers: endToEndHeaders(headers),
      body,
      trailers: ended ? undefined : streamTrailers(stream),
      signal: ownedSignal(abort),
      ctx,
    };
    opts.service(meshReq).then(
      (resp) => {
        upstreamBody = resp.body;
        try {
          this.writeResponse(stream, resp, ctx.id);
        } catch (err) {
          // A header HTTP/2 forbids (a connection-specific one an upstream sent, say).
          resp.body?.destroy();
          this.writeError(stream, new ProxyError('UPSTREAM_RESET', `response from upstream cannot be written: ${(err as Error).message}`), grpc, ctx.id);
        }
      },
      (err: unknown) => this.writeError(stream, err, grpc, ctx.id),
    );
  }

  private writeResponse(stream: ServerHttp2Stream, resp: MeshResponse, id: string): void {
    if (stream.destroyed || stream.closed) {
      resp.body?.destroy();
      return;
    }
    const head: OutgoingHttpHeaders = { ...resp.headers, ':status': resp.status };
    const body = resp.body;
    if (body === null) {
      stream.respond(head, { endStream: true });
      return;
    }
    const trailers = resp.trailers;
    stream.respond(head, { waitForTrailers: trailers !== undefined });
    if (trailers) {
      stream.on('wantTrailers', () => {
        trailers.then(
          // Closed (reset by the client) but not destroyed yet: sendTrailers would throw, unhandled.
          (t) => !stream.destroyed && !stream.closed && stream.sendTrailers(t ?? {}),
          () => stream.close(constants.NGHTTP2_INTERNAL_ERROR),
        );
      });
    }
    body.on('error', (err: Error & { code?: string }) => {
      const cancelled = err.name === 'AbortError' || err.code === 'ABORT_ERR';
      this.opts.logger.warn({ request: id, err: err.message }, 'response body from upstream failed mid-stream; resetting the client stream');
      stream.close(cancelled ? constants.NGHTTP2_CANCEL : constants.NGHTTP2_INTERNAL_ERROR);
    });
    // The stream's 'close' listener (onStream) destroys the body if the client leaves first.
    forward(body, stream);
  }

  private writeError(stream: ServerHttp2Stream, err: unknown, grpc: boolean, id: string): void {
    const e = errorResponse(err, grpc);
    this.opts.logger.warn(
      { request: id, code: e.error.code, err: e.error.message },
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

function streamTrailers(stream: ServerHttp2Stream): Promise<HeaderMap | undefined> {
  return new Promise((resolve) => {
    stream.once('trailers', (t: IncomingHttpHeaders) => resolve(endToEndHeaders(t)));
    stream.once('end', () => setImmediate(() => resolve(undefined)));
    stream.once('close', () => resolve(undefined));
  });
}
