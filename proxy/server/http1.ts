// The HTTP/1.1 server edge: turns requests on sniffed sockets into MeshRequests, calls the
// stack, writes the MeshResponse back (body streamed, trailers when chunked), and answers bad
// input with a precise 4xx. CONNECT and Upgrade requests are handed to tunnel handlers, except
// `Upgrade: h2c`, which is served as the plain HTTP/1.1 request it also is (h2c-upgrade.ts).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Readable, type Duplex } from 'node:stream';
import { ProxyError } from '../errors.ts';
import { onBodyClose, type BodyCloseHook } from '../http/body-close.ts';
import { isGrpc, type HeaderMap, type MeshRequest, type MeshResponse } from '../http/message.ts';
import { errorBody, errorResponse, pathForLog, rawHttp1Error } from './error-response.ts';
import { isH2cUpgrade, withoutH2cUpgrade } from './h2c-upgrade.ts';
import { Http1ServerConnection, type ConnectionOwner, type ParsedRequest, type TunnelRequest } from './http1-connection.ts';
import { clientErrorAnswer, requestTarget } from './http1-request.ts';
import { requestTrailers } from './http1-request-body.ts';
import type { Http1Response } from './http1-response.ts';
import { trailerLines } from './http1-response-head.ts';
import { ConnectionSweep } from './http1-timeouts.ts';
import { callService, createContext, type ConnectionInfo, type EdgeOptions } from './request-context.ts';

const CONTINUE = /^100-continue$/i;

/**
 * The cancellation signal of the requests on one client connection. One per connection, not
 * per request: making an AbortController (an EventTarget) showed as ~3% of the proxy's CPU
 * profile in Node 20, and on HTTP/1 a response can only end early when its connection goes,
 * which cancels every request on it alike. Layers listen through `http/cancel.ts` hooks, set and
 * cleared per request, not an EventTarget listener each: on this long-lived signal those kept
 * request objects alive into the old generation.
 */
function connectionAbort(conn: Http1ServerConnection): AbortController {
  let abort = conn.abort;
  if (abort === null || abort.signal.aborted) abort = conn.abort = new AbortController();
  return abort;
}

/** CONNECT and Upgrade: the socket leaves HTTP and becomes a byte tunnel. */
export type TunnelHandler = (req: TunnelRequest, socket: Duplex, head: Buffer, conn: ConnectionInfo) => void;

export interface Http1EdgeOptions extends EdgeOptions {
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  onConnect?: TunnelHandler;
  onUpgrade?: TunnelHandler;
}

export class Http1Edge implements ConnectionOwner {
  readonly sweep: ConnectionSweep<Http1ServerConnection>;
  /** node:http's hint, which the proxy's own pool reads to close its idle connections before this edge does. */
  readonly keepAliveLines: string;
  readonly maxHeaderBytes: number;

  constructor(private readonly opts: Http1EdgeOptions) {
    this.sweep = new ConnectionSweep(opts.headersTimeoutMs, opts.keepAliveTimeoutMs);
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(opts.keepAliveTimeoutMs / 1000)}\r\n`;
    this.maxHeaderBytes = opts.maxHeaderBytes;
    // Draining: connections between requests close now; the others say `Connection: close` next.
    opts.drain.onDrain(() => {
      for (const conn of this.sweep.connections) if (conn.idle) conn.socket.destroy();
    });
  }

  get draining(): boolean {
    return this.opts.drain.draining;
  }

  /** Serve HTTP/1.1 on a socket whose first bytes were already sniffed (and unshifted). */
  accept(socket: Socket, conn: ConnectionInfo): void {
    socket.setNoDelay(true);
    new Http1ServerConnection(socket, conn, this);
  }

  onRequest(conn: Http1ServerConnection, req: ParsedRequest, res: Http1Response): void {
    const { opts } = this;
    const head = req.head;
    const grpc = isGrpc(head.contentType);
    const ctx = createContext(opts.ids, opts.direction, conn.info, grpc, grpc ? (head.headers['grpc-timeout'] as string) : undefined);
    opts.drain.begin();
    const abort = connectionAbort(conn);
    // The upstream response body, once there is one: the one close callback below also drops it
    // if the client goes first.
    let upstreamBody: Readable | null = null;
    res.onClose = (complete) => {
      opts.drain.end();
      if (!complete) abort.abort(new ProxyError('UPSTREAM_RESET', 'client closed the connection before the response ended'));
      if (upstreamBody !== null && !upstreamBody.readableEnded) upstreamBody.destroy();
    };
    // As node:http: 100 Continue before the body is read, 417 for any other expectation (HTTP/1.1 only).
    if (head.expect !== undefined && req.minor === 1) {
      if (!CONTINUE.test(head.expect)) return this.writeError(res, new ProxyError('EXPECTATION_FAILED', `expectation "${head.expect.slice(0, 100)}" cannot be met`), grpc, ctx.id, req);
      conn.writeContinue();
    }

    const target = requestTarget(req.url, head.host, conn.info.connectTarget, conn.info.originalDst);
    if (target instanceof ProxyError) return this.writeError(res, target, grpc, ctx.id, req);
    const body = req.body;
    const meshReq: MeshRequest = {
      protocol: 'http/1.1',
      method: req.method,
      scheme: 'http',
      authority: target.authority,
      path: target.path,
      headers: head.headers,
      body,
      trailers: head.chunked && body !== null ? requestTrailers(body) : undefined,
      signal: abort.signal,
      ctx,
    };
    callService(opts.service, meshReq).then(
      (resp) => {
        if (resp.body instanceof Readable) upstreamBody = resp.body;
        try {
          this.writeResponse(res, resp, ctx.id);
        } catch (err) {
          // An upstream status or header that cannot be written (bad characters, say): nothing was.
          upstreamBody?.destroy();
          this.writeError(res, new ProxyError('UPSTREAM_RESET', `response from upstream cannot be written: ${(err as Error).message}`), grpc, ctx.id, req);
        }
      },
      (err: unknown) => this.writeError(res, err, grpc, ctx.id, req),
    );
  }

  private writeResponse(res: Http1Response, resp: MeshResponse, id: string): void {
    const body = resp.body;
    if (res.ended) {
      if (body instanceof Readable) body.destroy();
      return;
    }
    if (!(body instanceof Readable)) {
      // None, or all of it at hand: head and body leave in one write.
      res.writeHead(resp.status, resp.headers, body === null ? 0 : body.length);
      res.end(body ?? undefined);
      return;
    }
    res.writeHead(resp.status, resp.headers, -1);
    const cut = new CutResponse(res, id, this.opts.logger);
    body.on('error', (err) => {
      this.opts.logger.warn({ request: id, err }, 'response body from upstream failed mid-stream; closing the client connection');
      res.destroy();
    });
    // A full socket pauses the upstream until it drains; the close callback (onRequest) destroys
    // the body if the client leaves first.
    res.onDrain = () => body.resume();
    body.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) body.pause();
    });
    body.on('end', () => {
      if (!resp.trailers) return res.end();
      resp.trailers.then(
        (trailers) => this.endWithTrailers(res, trailers, id),
        (err: unknown) => cut.cut((err as Error).message),
      );
    });
    onBodyClose(body, cut);
  }

  private endWithTrailers(res: Http1Response, trailers: HeaderMap | undefined, id: string): void {
    let lines = '';
    try {
      lines = trailers === undefined ? '' : trailerLines(trailers);
    } catch (err) {
      // The body has gone out: all that is left is to cut the response, so the client sees it incomplete.
      this.opts.logger.warn({ request: id, err: (err as Error).message }, `response trailers from upstream cannot be written: ${(err as Error).message}; closing the client connection`);
      return res.destroy();
    }
    res.end(undefined, lines);
  }

  private writeError(res: Http1Response, err: unknown, grpc: boolean, id: string, req: ParsedRequest): void {
    const e = errorResponse(err, grpc);
    this.opts.logger.warn(
      { request: id, method: req.method, path: pathForLog(req.url), code: e.error.code, err: e.error.message },
      `proxy answered ${e.status}${grpc ? ` grpc-status ${e.headers['grpc-status']}` : ''}: ${e.error.message}`,
    );
    if (res.headersSent) return res.destroy();
    if (res.ended) return;
    // The request body may be unread: the connection ends after this answer, reading and dropping
    // what the client still sends first (the connection's `close`), so a half-sent body is never
    // parsed as a request and the client is not reset before it reads the answer.
    if (req.body !== null && !req.body.complete) res.keepAlive = false;
    const body = Buffer.from(grpc ? '' : errorBody(e));
    res.writeHead(e.status, { ...(e.headers as HeaderMap), 'content-length': String(body.length) }, body.length);
    res.end(body);
  }

  onClientError(conn: Http1ServerConnection, err: Error & { code?: string }): void {
    const peer = conn.info.peer;
    const socket = conn.socket;
    const answer = clientErrorAnswer(err);
    if (!answer) {
      this.opts.logger.info({ peer, code: err.code }, `client connection broke: ${err.message}`);
      socket.destroy();
      return;
    }
    this.opts.logger.warn({ peer, code: err.code, status: answer.status }, `bad HTTP/1 request from ${peer}: ${answer.why}`);
    // Never once a response has begun: the client would read the error as part of it.
    if (socket.writable && !conn.responding) socket.end(rawHttp1Error(answer.status, answer.reason, 'BAD_REQUEST', answer.why));
    else socket.destroy();
  }

  onTunnel(conn: Http1ServerConnection, req: TunnelRequest, head: Buffer): void {
    const kind = req.method === 'CONNECT' ? 'CONNECT' : 'Upgrade';
    const socket = conn.socket;
    if (kind === 'Upgrade' && isH2cUpgrade(req.headers)) {
      // The parser has let the socket go, so the request is given back as the bytes it was,
      // minus the upgrade: a fresh connection reads it, the body bytes that followed the head,
      // then the rest of the connection as usual.
      socket.unshift(Buffer.concat([Buffer.from(withoutH2cUpgrade(req), 'latin1'), head]));
      this.accept(socket, conn.info);
      return;
    }
    const handler = kind === 'CONNECT' ? this.opts.onConnect : this.opts.onUpgrade;
    if (!handler) {
      this.opts.logger.warn({ peer: conn.info.peer, path: pathForLog(req.url) }, `${kind} is not served on this listener`);
      socket.end(rawHttp1Error(405, 'Method Not Allowed', 'BAD_REQUEST', `${kind} is not served on the ${this.opts.direction} listener`));
      return;
    }
    handler(req, socket, head, conn.info);
  }
}

/**
 * A streamed response that may have to be cut: its body's trailers failed (the upstream reset
 * the body in its middle), or the body closed with neither an end nor an error (an HTTP/2
 * upstream reset it while it waited here for the client to read it, and what it held is gone).
 * The connection goes, so the client sees the response cut, not whole.
 */
class CutResponse implements BodyCloseHook {
  constructor(
    readonly res: Http1Response,
    readonly id: string,
    readonly logger: Logger,
  ) {}

  bodyClosed(body: Readable): void {
    if (!body.readableEnded && !body.errored) this.cut('the upstream stream was reset before the end of the response body');
  }

  cut(why: string): void {
    if (this.res.ended) return;
    this.logger.warn({ request: this.id, err: why }, `response body from upstream cut short: ${why}; closing the client connection`);
    this.res.destroy();
  }
}
