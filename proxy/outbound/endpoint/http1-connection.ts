// One HTTP/1.1 connection to an endpoint, one request at a time: writes the request (its body
// streamed with backpressure), parses the response with Node's native parser and reports it to
// the request's handler, then hands itself back to its pool for the next request.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { HeaderMap } from '../../http/message.ts';
import { ProxyError } from '../../errors.ts';
import { requestHead, trailerText, type FlatHeaders, type RequestHead } from './http1-request-head.ts';
import { ConsumedHandle, HTTPParser, type NativeHttpParser, type OnHeadersComplete, type ParseError } from '../../http/native-http-parser.ts';

/** What one request hears of its exchange, in order: onConnect, onHeaders, onData..., onComplete; or onError at any point. */
export interface Http1Handler {
  /** The request has a connection; `abort` cuts the exchange (and the connection) with that error. */
  onConnect(abort: (err?: Error) => void): void;
  /** The final response's head (1xx are skipped); `resume` restarts a socket paused by onData. */
  onHeaders(status: number, rawHeaders: string[], resume: () => void): boolean;
  /** A piece of the body; false pauses the socket until `resume`. */
  onData(chunk: Buffer): boolean;
  /** The socket read that brought the head, or more of the body, has been parsed whole, and the response goes on. */
  onReadEnd(): void;
  /** The response has ended; a chunked one's trailers as a flat list, else null. */
  onComplete(rawTrailers: string[] | null): void;
  onError(err: Error): void;
  /** The pool sends the request once more, on a fresh connection, for `why` (the handler hears of the new one through onConnect). */
  onResend?(why: string): void;
}

/** A request a connection gave back unanswered, to go once more on a fresh connection, and why. */
export interface Resend {
  request: Http1Request;
  handler: Http1Handler;
  why: string;
}

export interface Http1Request {
  method: string;
  path: string;
  /** [name, value, ...], `host` first. */
  headers: FlatHeaders;
  body: Readable | null;
  /**
   * The body's trailers, resolved once it has ended (undefined: none). Sent when the body goes
   * chunked (no `content-length`): a body of a known length has no place for them on the wire.
   */
  trailers?: Promise<HeaderMap | undefined>;
  /** Set by the pool when the request is sent again on a fresh connection. */
  retried?: boolean;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The exchange is over and the connection may carry another. */
  released(conn: Http1Connection): void;
  /** The connection is gone. `retry`: a request the server never took, to be sent on a fresh connection. */
  closed(conn: Http1Connection, retry?: Resend): void;
}

/** Methods a client may send again on its own (RFC 9110 9.2): safe ones; PUT and DELETE are idempotent, but whoever sent them decides. */
const REPLAYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** A request whose repetition does no harm: a safe method, or one the caller marked with an idempotency key. */
function replayable(request: Http1Request): boolean {
  if (REPLAYABLE_METHODS.has(request.method)) return true;
  const headers = request.headers;
  for (let i = 2; i < headers.length; i += 2) if (headers[i] === 'idempotency-key' || headers[i] === 'x-idempotency-key') return true;
  return false;
}

/** Methods whose request means a body: without one, they still say `content-length: 0` (RFC 9110 8.6). */
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);
const MAX_HEADER_BYTES = 96 * 1024;
const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/;
/** How much sooner than the server's keep-alive timeout an idle connection closes. */
const KEEP_ALIVE_MARGIN_MS = 2_000;

export class Http1Connection {
  private readonly parser: NativeHttpParser = new HTTPParser();
  /** The parser's hold on the socket's reads (it takes them from the handle); null when fed from 'data' events. */
  private readonly reads: ConsumedHandle | null;
  /** The request in flight, and its handler; null while idle. */
  private request: Http1Request | null = null;
  private handler: Http1Handler | null = null;
  private head: RequestHead | null = null;
  /** Body bytes written, and whether the body has been written whole. */
  private bodyBytes = 0;
  /** The request's head has been written: from then on the server has seen the request. */
  private headSent = false;
  private writing = false;
  /** The body has ended and its last chunk waits for the trailers: the request is not written whole yet. */
  private awaitingTrailers = false;
  /** The response: a byte of it has arrived; its head has; a 1xx is being skipped. */
  private received = false;
  private responded = false;
  private informational = false;
  private keepAlive = true;
  /** The response ended within the current `execute`: the connection is released after it returns. */
  private completed = false;
  private executing = false;
  private paused = false;
  /** Headers the parser handed over in batches (a long head, or trailers). */
  private flushed: string[] = [];
  private socketError: Error | undefined;
  /** A request a `408` on closing showed the server never took (closedAsIdle): sent again once the socket has closed. */
  private resend: Resend | undefined;
  private gone = false;
  /** The connection carried a whole exchange before: its peer may have closed it as idle since. */
  reused = false;
  /** How long it may stay idle: the pool's, or less when the server's `Keep-Alive: timeout` says so. */
  keepAliveMs: number;
  /** The last `Keep-Alive` value `keepAliveMs` was read from. */
  private lastHint: string | undefined = undefined;
  /** When its last exchange ended (or it was opened): the server's keep-alive timer runs from then. */
  idleSince = Date.now();
  /** When, idle, it must be closed by (the pool sets it on release). */
  idleUntil = 0;

  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner,
    private readonly label: string,
    private readonly maxIdleMs: number,
  ) {
    this.keepAliveMs = maxIdleMs;
    const parser = this.parser;
    parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone);
    // No function at a message's start: Node calls into JavaScript for it only when the slot holds
    // one (node:http's client leaves it empty), and what it would mark, a byte of the response
    // received, onExecute marks after every read. Null, not left out: an empty slot would send
    // each of the parser's lookups of it on to the prototype.
    parser[HTTPParser.kOnMessageBegin] = null;
    parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
      this.executing = true;
      for (let i = 0; i < headers.length; i++) this.flushed.push(headers[i]!);
    };
    parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.onBody;
    parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    // As the server edge: the parser takes the reads straight from the handle. 'data' stays for
    // anything the socket already held (nothing, for a connection that has just been dialled).
    this.reads = ConsumedHandle.take(parser, socket, this.onExecute);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('drain', this.onDrain);
  }

  /** Closed, closing, or closed by the peer and not yet torn down: not a connection to send on. */
  get usable(): boolean {
    const s = this.socket;
    return !this.gone && !s.destroyed && !s.readableEnded && s.writable;
  }

  /** Sends one request; its handler hears the rest. */
  send(request: Http1Request, handler: Http1Handler): void {
    let head: RequestHead;
    try {
      head = requestHead(request.method, request.path, request.headers, this.label);
    } catch (err) {
      // Nothing was written: the connection is as good as before.
      handler.onError(err as Error);
      this.owner.released(this);
      return;
    }
    this.request = request;
    this.handler = handler;
    this.head = head;
    this.bodyBytes = 0;
    this.headSent = false;
    this.awaitingTrailers = false;
    this.received = this.responded = this.informational = this.completed = false;
    this.keepAlive = true;
    if (this.flushed.length > 0) this.flushed = [];
    // A closure per request, so a late abort can only ever cut the exchange it was given for.
    handler.onConnect((err) => {
      if (this.handler === handler) this.abort(err);
    });
    if (this.request !== request) return; // aborted at once (its signal had fired)
    const body = request.body;
    if (body === null) {
      this.writing = false;
      this.sendBodilessHead(request, head);
      return;
    }
    // The head waits for the body's first bytes (or its end), so they leave in one write.
    this.writing = true;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('close', this.onBodyClose);
    // Paused by an earlier connection that gave the request back (a retry), or by its owner.
    body.resume();
  }

  /**
   * Cuts the exchange in flight, and the connection with it; unless not a byte of the request went
   * out (cancelled as it reached the connection after waiting in line, or before its body's first
   * bytes) and none came in: then the connection is as good as before and goes back to the pool,
   * rather than costing the next request a new connection (and handshake) each time a client
   * gives up waiting.
   */
  private readonly abort = (err?: Error): void => {
    if (this.handler === null) return;
    const untouched = !this.headSent && !this.received;
    this.fail(err ?? new ProxyError('UPSTREAM_RESET', `${this.label}: request aborted`));
    if (untouched && this.usable) {
      this.head = null;
      this.owner.released(this);
      return;
    }
    this.socket.destroy();
  };

  // --- the request body -------------------------------------------------------------------

  private readonly onBodyData = (chunk: Buffer | string): void => {
    const head = this.head!;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return;
    const socket = this.socket;
    if (head.contentLength !== null && this.bodyBytes + data.length > head.contentLength) {
      this.abort(new ProxyError('UPSTREAM_RESET', `${this.label}: request body longer than its content-length (${head.contentLength})`));
      return;
    }
    const chunked = head.contentLength === null;
    socket.cork();
    if (this.bodyBytes === 0) {
      this.headSent = true;
      socket.write(chunked ? `${head.text}transfer-encoding: chunked\r\n` : `${head.text}content-length: ${head.contentLength}\r\n\r\n`, 'latin1');
    }
    if (chunked) socket.write(`\r\n${data.length.toString(16)}\r\n`, 'latin1');
    this.bodyBytes += data.length;
    const more = socket.write(data);
    socket.uncork();
    // A full socket buffer pauses the body until 'drain': backpressure to the caller.
    if (!more) this.request!.body!.pause();
  };

  private readonly onDrain = (): void => {
    if (this.writing) this.request!.body!.resume();
  };

  private readonly onBodyEnd = (): void => {
    const head = this.head!;
    const request = this.request!;
    this.stopBody();
    if (request.trailers !== undefined && head.contentLength === null) {
      // Chunked framing can carry the trailers: the last chunk waits for them (they settle as the
      // body ends, so a microtask at most), and the connection is not done with until it is written.
      this.awaitingTrailers = true;
      request.trailers.then(
        (trailers) => this.endChunked(request, trailers),
        () => this.endChunked(request, undefined),
      );
      return;
    }
    if (this.bodyBytes === 0) {
      this.sendBodilessHead(request, head);
    } else if (head.contentLength === null) {
      this.socket.write('\r\n0\r\n\r\n', 'latin1');
    } else if (this.bodyBytes !== head.contentLength) {
      this.abort(new ProxyError('UPSTREAM_RESET', `${this.label}: request body shorter (${this.bodyBytes} bytes) than its content-length (${head.contentLength})`));
    }
  };

  /**
   * The last chunk and the trailer section, once the trailers are known; a body that was empty
   * goes chunked as well when it has trailers (its head waited for its end). A trailer that cannot
   * be written fails the request (BAD_REQUEST), and the connection is cut if its head went out.
   */
  private endChunked(request: Http1Request, trailers: HeaderMap | undefined): void {
    if (this.request !== request) return; // the exchange ended meanwhile (aborted, or answered and cut)
    this.awaitingTrailers = false;
    const head = this.head!;
    let lines = '';
    try {
      if (trailers !== undefined) lines = trailerText(trailers, this.label);
    } catch (err) {
      this.abort(err as Error);
      return;
    }
    if (this.bodyBytes === 0) {
      if (lines === '') return this.sendBodilessHead(request, head);
      this.headSent = true;
      this.socket.write(`${head.text}transfer-encoding: chunked\r\n\r\n0\r\n${lines}\r\n`, 'latin1');
      return;
    }
    this.socket.write(`\r\n0\r\n${lines}\r\n`, 'latin1');
  }

  /** The head of a request with no body bytes: `content-length: 0` where the method expects a body. */
  private sendBodilessHead(request: Http1Request, head: RequestHead): void {
    this.headSent = true;
    this.socket.write(`${head.text}${EXPECTS_PAYLOAD.has(request.method) ? 'content-length: 0\r\n' : ''}\r\n`, 'latin1');
  }

  private readonly onBodyError = (err: Error): void => {
    this.abort(new ProxyError('UPSTREAM_RESET', `${this.label}: request body failed: ${err.message}`, { cause: err }));
  };

  /** A body that closes before its end was cut by whoever fed it (the client went away). */
  private readonly onBodyClose = (): void => {
    if (this.writing) this.abort(new ProxyError('UPSTREAM_RESET', `${this.label}: request body closed before its end`));
  };

  /** The body is done with: written whole, or no longer wanted (left paused, not destroyed: it is the caller's). */
  private stopBody(): void {
    if (!this.writing) return;
    this.writing = false;
    const body = this.request!.body!;
    body.removeListener('data', this.onBodyData);
    body.removeListener('end', this.onBodyEnd);
    body.removeListener('error', this.onBodyError);
    body.removeListener('close', this.onBodyClose);
    if (!body.readableEnded) body.pause();
  }

  // --- the response -----------------------------------------------------------------------

  private readonly onSocketData = (data: Buffer): void => {
    if (this.handler === null) {
      // Nothing was asked: bytes from an idle connection are not a response to anything.
      this.socket.destroy();
      return;
    }
    this.received = true;
    this.executing = true;
    let parsed: number | ParseError;
    try {
      parsed = this.parser.execute(data);
    } catch (err) {
      this.executing = false;
      throw err;
    }
    this.onExecute(parsed);
  };

  /** What the parser made of a read, its callbacks run: from the handle itself, or from onSocketData. */
  private readonly onExecute = (parsed: number | ParseError): void => {
    this.executing = false;
    this.received = true;
    if (typeof parsed !== 'number') return this.malformed(parsed);
    if (this.completed) this.finishExchange();
    // Nothing was asked: bytes from an idle connection are not a response to anything.
    else if (this.handler === null) this.socket.destroy();
    else this.handler.onReadEnd();
  };

  private readonly onHeadersComplete: OnHeadersComplete = (_major, _minor, headers, _m, _u, status, _text, upgrade, keepAlive) => {
    this.executing = true;
    const handler = this.handler;
    if (handler === null || this.responded) {
      this.protocolError('a response arrived that no request asked for');
      return 0;
    }
    if (headers === undefined) {
      headers = this.flushed;
      this.flushed = [];
    }
    if (upgrade) {
      this.protocolError(`status ${status} switches protocols, which was not asked for`);
      return 0;
    }
    // 1xx: the server edge answers 100-continue itself; the parser skips it and reads on.
    if (status < 200) {
      this.informational = true;
      return 1;
    }
    if (status === 408 && this.closedAsIdle(keepAlive)) return 0;
    this.responded = true;
    this.keepAlive = keepAlive && this.readKeepAliveHint(headers);
    handler.onHeaders(status, headers, this.resume);
    // A response to HEAD has a length but no body: 1 tells the parser so.
    return this.request!.method === 'HEAD' ? 1 : 0;
  };

  /**
   * A `408` that closes a reused connection, as the first answer to a request that may safely go
   * again: the server timed the connection out as idle and said so as it closed it (Node's, nginx
   * and Apache do), the request crossing its answer on the wire. The app never saw the request, so
   * its caller must not see the 408: the request goes once more on a fresh connection (Go's HTTP
   * client likewise takes a 408 from an idle connection for a closed one). The response is not read (nothing is handed on), and the connection
   * closes; its 'close' hands the request to the pool.
   */
  private closedAsIdle(keepAlive: boolean): boolean {
    const request = this.request!;
    if (keepAlive || !this.reused || !this.resendable(request)) return false;
    this.resend = { request, handler: this.handler!, why: 'the endpoint answered 408 and closed the reused connection: it had timed the connection out as idle, so the request never reached the app' };
    this.stopBody();
    // Nothing more of this exchange is anyone's: the 408's body and end are ignored.
    this.request = this.handler = null;
    this.socket.destroy();
    return true;
  }

  /**
   * The server's `Keep-Alive: timeout=N` (Node's servers send it): the connection stays idle at
   * most 2 s less than that, so it is never written to as the server closes it, and one whose
   * server allows less than that is not kept at all (false).
   */
  private readKeepAliveHint(headers: string[]): boolean {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      // A server repeats the same hint on every response of a connection: it is read once.
      const hint = headers[i + 1]!;
      if (hint === this.lastHint) return this.keepAliveMs > 0;
      const timeout = KEEP_ALIVE_TIMEOUT.exec(hint);
      if (timeout === null) return true;
      this.lastHint = hint;
      this.keepAliveMs = Math.min(Number(timeout[1]) * 1000 - KEEP_ALIVE_MARGIN_MS, this.maxIdleMs);
      return this.keepAliveMs > 0;
    }
    this.keepAliveMs = this.maxIdleMs;
    this.lastHint = undefined;
    return true;
  }

  private readonly onBody = (chunk: Buffer): void => {
    this.executing = true;
    if (this.handler !== null && !this.handler.onData(chunk) && !this.paused) {
      this.paused = true;
      this.socket.pause();
      this.reads?.stop();
    }
  };

  private readonly resume = (): void => {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
    this.reads?.start(this.socket);
  };

  private readonly onMessageComplete = (): void => {
    this.executing = true;
    if (this.informational) {
      this.informational = false;
      if (this.flushed.length > 0) this.flushed = [];
      return;
    }
    const handler = this.handler;
    if (handler === null) return;
    let trailers: string[] | null = null;
    if (this.flushed.length > 0) {
      trailers = this.flushed;
      this.flushed = [];
    }
    this.handler = null;
    handler.onComplete(trailers);
    this.completed = true;
    // Released once the parser returns (onSocketData), not inside its callback.
    if (!this.executing) this.finishExchange();
  };

  /** After a response ended: the connection goes back to the pool, or closes. */
  private finishExchange(): void {
    this.completed = false;
    // The server answered before the request body ended: the rest of the body has nowhere to go
    // on this connection (the server is done with this request), so the connection is closed.
    const cutShort = this.writing || this.awaitingTrailers;
    this.awaitingTrailers = false;
    this.stopBody();
    this.request = null;
    this.head = null;
    if (cutShort || !this.keepAlive || !this.usable) {
      this.socket.destroy();
      return;
    }
    this.reused = true;
    this.idleSince = Date.now();
    if (this.paused) this.resume();
    this.owner.released(this);
  }

  private malformed(err: ParseError): void {
    this.protocolError(`invalid HTTP response (${err.reason ?? err.message}, ${err.code})`);
  }

  /** The peer sent what is not a response to this request: the exchange fails and the connection goes. */
  private protocolError(what: string): void {
    this.fail(new ProxyError('UPSTREAM_RESET', `${this.label}: ${what}`));
    this.socket.destroy();
  }

  // --- the connection's end ---------------------------------------------------------------

  private readonly onSocketEnd = (): void => {
    // A body that runs until the connection closes ends here; one cut short (by its length or
    // its chunks, the parser's only complaint at this point) is the close's fault, not the HTTP's.
    if (this.handler !== null && this.responded && this.parser.finish() !== undefined) {
      this.protocolError('connection closed before the response body completed');
    }
    // A response the close completed (its body ran until the close) ended inside `finish`.
    this.executing = false;
    if (this.completed) this.finishExchange();
    this.socket.destroy();
  };

  private readonly onSocketError = (err: Error): void => {
    this.socketError ??= err;
  };

  private readonly onSocketClose = (): void => {
    this.gone = true;
    // The parser lets go of the handle before it goes (node:http frees its parsers so).
    this.reads?.release();
    this.parser.close();
    if (this.resend !== undefined) return this.owner.closed(this, this.resend);
    const request = this.request;
    const handler = this.handler;
    if (request !== null && handler !== null && this.neverWritten(request)) {
      // The peer closed a kept-alive connection as the request went out on it (it had been
      // idle): the server never saw the request, so it goes once more on a fresh connection.
      this.stopBody();
      this.request = this.handler = null;
      this.owner.closed(this, { request, handler, why: 'the endpoint closed the reused connection before answering: it had closed it as idle as the request went out' });
      return;
    }
    const cause = this.socketError;
    this.stopBody(); // a body still being written has nowhere to go
    this.fail(
      new ProxyError('UPSTREAM_RESET', `${this.label}: connection closed before the response completed${cause ? ` (${cause.message})` : ''}`, { cause }),
    );
    this.owner.closed(this);
  };

  /**
   * Whether a failed request can safely go again: its connection had served before (so the peer
   * may have closed it as idle), not a byte of a response came, no byte of its body was taken
   * from the caller (the body cannot be replayed), it was not retried already, and sending it
   * twice would do no harm. The client cannot tell a server that closed an idle connection as the
   * request arrived from one that took the request and died before answering; a POST in the
   * second case may have been carried out, so it fails instead, as Go's HTTP client decides. Not
   * so when not a byte of the request had gone out (its head waits for its body's first bytes):
   * the server cannot have seen it, whatever its method.
   */
  private neverWritten(request: Http1Request): boolean {
    return this.reused && !this.received && this.resendable(request);
  }

  /** The request's side of that: no byte of its body taken, not retried already, harmless to repeat. */
  private resendable(request: Http1Request): boolean {
    return this.bodyBytes === 0 && !request.retried && (request.body === null || !request.body.readableEnded) && (!this.headSent || replayable(request));
  }

  /** The exchange in flight ends with `err`. */
  private fail(err: Error): void {
    const handler = this.handler;
    if (handler === null) return;
    this.handler = null;
    this.stopBody();
    this.request = null;
    handler.onError(err);
  }
}
