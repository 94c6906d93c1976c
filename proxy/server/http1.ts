// The HTTP/1.1 server edge: turns requests on sniffed sockets into MeshRequests, calls the
// stack, writes the MeshResponse back (body streamed, trailers when chunked), and answers bad
// input with a precise 4xx. CONNECT and Upgrade requests are handed to tunnel handlers, except
// `Upgrade: h2c`, which is served as the plain HTTP/1.1 request it also is (h2c-upgrade.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { ProxyError } from '../errors.ts';
import { forward } from '../http/forward.ts';
import { HOP_BY_HOP } from '../http/hop-by-hop.ts';
import { readHttp1Head } from '../http/http1-head.ts';
import { isGrpc, type MeshRequest, type MeshResponse } from '../http/message.ts';
import { errorBody, errorResponse, rawHttp1Error } from './error-response.ts';
import { isH2cUpgrade, withoutH2cUpgrade } from './h2c-upgrade.ts';
import { clientErrorAnswer, requestTarget, requestTrailers } from './http1-request.ts';
import { callService, createContext, peerOf, type ConnectionInfo, type EdgeOptions } from './request-context.ts';

/** Headers that describe one connection, or that this edge has already acted on: Node's server answers `Expect: 100-continue` itself, so the next hop must not wait for it. */
const DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'expect']);

const kConn = Symbol('mesh.connection');
const kAbort = Symbol('mesh.connection-abort');
type TaggedSocket = Socket & { [kConn]?: ConnectionInfo; [kAbort]?: AbortController };

/**
 * The cancellation signal of the requests on one client connection. One per connection, not
 * per request: making an AbortController (an EventTarget) showed as ~3% of the proxy's CPU
 * profile in Node 20, and on HTTP/1 a response can only end early when its connection goes,
 * which cancels every request on it alike. Layers listen through `http/cancel.ts` hooks, set and
 * cleared per request, not an EventTarget listener each: on this long-lived signal those kept
 * request objects alive into the old generation.
 */
function connectionAbort(socket: TaggedSocket): AbortController {
  let abort = socket[kAbort];
  if (abort === undefined || abort.signal.aborted) abort = socket[kAbort] = new AbortController();
  return abort;
}

/** CONNECT and Upgrade: the socket leaves HTTP and becomes a byte tunnel. */
export type TunnelHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo) => void;

export interface Http1EdgeOptions extends EdgeOptions {
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  onConnect?: TunnelHandler;
  onUpgrade?: TunnelHandler;
}

export class Http1Edge {
  private readonly server: Server;

  constructor(private readonly opts: Http1EdgeOptions) {
    this.server = createServer({
      maxHeaderSize: opts.maxHeaderBytes,
      // The edge checks Host itself, so the error names what was missing.
      requireHostHeader: false,
      headersTimeout: opts.headersTimeoutMs,
      requestTimeout: 0, // bodies may stream for as long as they need; idle sockets still time out
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      noDelay: true,
    });
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (err, socket) => this.onClientError(err as NodeJS.ErrnoException, socket));
    this.server.on('connect', (req, socket, head) => this.onTunnel(opts.onConnect, req, socket, head, 'CONNECT'));
    this.server.on('upgrade', (req, socket, head) => this.onTunnel(opts.onUpgrade, req, socket, head, 'Upgrade'));
    opts.drain.onDrain(() => this.server.closeIdleConnections());
  }

  /** Serve HTTP/1.1 on a socket whose first bytes were already sniffed (and unshifted). */
  accept(socket: Socket, conn: ConnectionInfo): void {
    (socket as TaggedSocket)[kConn] = conn;
    this.server.emit('connection', socket);
    socket.resume();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const { opts } = this;
    const conn = (req.socket as TaggedSocket)[kConn] ?? { peer: peerOf(req.socket), tls: false };
    const head = readHttp1Head(req.rawHeaders, DROPPED);
    const grpc = isGrpc(head.contentType);
    const ctx = createContext(opts.ids, opts.direction, conn, grpc, grpc ? (head.headers['grpc-timeout'] as string) : undefined);
    opts.drain.begin();
    const abort = connectionAbort(req.socket as TaggedSocket);
    // The upstream response body, once there is one: the one 'close' listener below also
    // drops it if the client goes first (one listener and closure per request, not two).
    let upstreamBody: Readable | null = null;
    // `on`, not `once`, for events a stream emits once ('close', 'end'): `once` wraps each
    // listener in a bound function and a state object, per request, for nothing.
    res.on('close', () => {
      opts.drain.end();
      if (!res.writableFinished) abort.abort(new ProxyError('UPSTREAM_RESET', 'client closed the connection before the response ended'));
      if (upstreamBody !== null && !upstreamBody.readableEnded) upstreamBody.destroy();
    });
    if (opts.drain.draining) res.shouldKeepAlive = false;

    const target = requestTarget(req.url ?? '', head.host, conn.connectTarget, conn.originalDst);
    if (target instanceof ProxyError) return this.writeError(res, target, grpc, ctx.id, req);
    const meshReq: MeshRequest = {
      protocol: 'http/1.1',
      method: req.method ?? 'GET',
      scheme: 'http',
      authority: target.authority,
      path: target.path,
      headers: head.headers,
      body: head.hasBody ? req : null,
      trailers: head.chunked ? requestTrailers(req) : undefined,
      signal: abort.signal,
      ctx,
    };
    callService(opts.service, meshReq).then(
      (resp) => {
        if (resp.body instanceof Readable) upstreamBody = resp.body;
        try {
          this.writeResponse(res, resp, ctx.id);
        } catch (err) {
          // An upstream status or header node:http refuses to write (bad characters, say).
          upstreamBody?.destroy();
          this.writeError(res, new ProxyError('UPSTREAM_RESET', `response from upstream cannot be written: ${(err as Error).message}`), grpc, ctx.id, req);
        }
      },
      (err: unknown) => this.writeError(res, err, grpc, ctx.id, req),
    );
  }

  private writeResponse(res: ServerResponse, resp: MeshResponse, id: string): void {
    const body = resp.body;
    if (res.destroyed) {
      if (body instanceof Readable) body.destroy();
      return;
    }
    res.writeHead(resp.status, resp.headers);
    if (!(body instanceof Readable)) {
      // None, or all of it at hand: head and body leave in one write.
      res.end(body ?? undefined);
      return;
    }
    body.on('error', (err) => {
      this.opts.logger.warn({ request: id, err }, 'response body from upstream failed mid-stream; closing the client connection');
      res.destroy(err);
    });
    // The edge's 'close' listener (onRequest) destroys the body if the client leaves first.
    if (!resp.trailers) {
      forward(body, res);
      return;
    }
    body.pipe(res, { end: false });
    body.on('end', () => {
      resp.trailers!.then(
        (trailers) => {
          if (trailers && Object.keys(trailers).length > 0) res.addTrailers(trailers);
          res.end();
        },
        () => res.end(),
      );
    });
  }

  private writeError(res: ServerResponse, err: unknown, grpc: boolean, id: string, req: IncomingMessage): void {
    const e = errorResponse(err, grpc);
    this.opts.logger.warn(
      { request: id, method: req.method, url: req.url, code: e.error.code, err: e.error.message },
      `proxy answered ${e.status}${grpc ? ` grpc-status ${e.headers['grpc-status']}` : ''}: ${e.error.message}`,
    );
    if (res.headersSent) {
      res.destroy(e.error);
      return;
    }
    if (res.destroyed) return;
    // The request body may be unread; closing keeps a half-sent body from being parsed as a request.
    if (!req.complete) res.shouldKeepAlive = false;
    const body = grpc ? '' : errorBody(e);
    res.writeHead(e.status, { ...e.headers, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const peer = peerOf(socket as Socket);
    const answer = clientErrorAnswer(err);
    if (!answer) {
      this.opts.logger.info({ peer, code: err.code }, `client connection broke: ${err.message}`);
      socket.destroy();
      return;
    }
    this.opts.logger.warn({ peer, code: err.code, status: answer.status }, `bad HTTP/1 request from ${peer}: ${answer.why}`);
    if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.end(rawHttp1Error(answer.status, answer.reason, 'BAD_REQUEST', answer.why));
    } else socket.destroy();
  }

  private onTunnel(handler: TunnelHandler | undefined, req: IncomingMessage, socket: Duplex, head: Buffer, kind: string): void {
    const conn = (req.socket as TaggedSocket)[kConn] ?? { peer: 'unknown', tls: false };
    if (kind === 'Upgrade' && isH2cUpgrade(req.headers)) {
      // Node has already handed the socket over (the parser is gone), so the request is given
      // back to the server as the bytes it was, minus the upgrade: a fresh parser reads it, and
      // the body bytes that followed the head, then the rest of the connection as usual.
      socket.unshift(Buffer.concat([Buffer.from(withoutH2cUpgrade(req), 'latin1'), head]));
      this.server.emit('connection', socket);
      (socket as Socket).resume();
      return;
    }
    if (!handler) {
      this.opts.logger.warn({ peer: conn.peer, url: req.url }, `${kind} is not served on this listener`);
      socket.end(rawHttp1Error(405, 'Method Not Allowed', 'BAD_REQUEST', `${kind} is not served on the ${this.opts.direction} listener`));
      return;
    }
    handler(req, socket, head, conn);
  }
}
