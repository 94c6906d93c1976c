// One client connection at the HTTP/1.1 edge: Node's native parser (the llhttp node:http uses)
// reads the socket's handle itself, in C++, and each request becomes a plain object, its body a
// Readable, its response written straight to the socket. Requests are answered one at a time, in
// order (pipelined ones wait, parsed, with reading stopped past a few); CONNECT and Upgrade leave
// HTTP with the bytes read past their head; the sweep (http1-timeouts.ts) times heads and idleness.
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { CodedError } from '../../api/errors.ts';
import { ProxyError } from '../errors.ts';
import { HOP_BY_HOP } from '../http/hop-by-hop.ts';
import { readHttp1Head, type Http1Head } from '../http/http1-head.ts';
import { ConsumedHandle, HTTPParser, METHODS, type NativeHttpParser, type OnHeaders, type OnHeadersComplete, type ParseError } from '../http/native-http-parser.ts';
import { RequestBody } from './http1-request-body.ts';
import { Http1Response, type ResponseConnection } from './http1-response.ts';
import type { ConnectionSweep, SweptConnection } from './http1-timeouts.ts';
import type { ConnectionInfo } from './request-context.ts';

/** A request as the parser read it. */
export interface ParsedRequest {
  method: string;
  url: string;
  /** HTTP/1.x's minor version: 0 or 1. */
  minor: number;
  /** The head as the mesh reads it, once: hop-by-hop headers and `Expect` dropped, names lower case. */
  head: Http1Head;
  /** Null when the request has no body (`head.hasBody`: a content-length above 0, or a transfer-encoding). */
  body: RequestBody | null;
}

/** A CONNECT or Upgrade request, handed over with its socket: the shape the tunnel handlers read. */
export interface TunnelRequest {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  /** Names lower case; a repeated header's values joined with ", " (a second Host dropped). */
  headers: IncomingHttpHeaders;
  socket: Socket;
}

/** What the connection asks of its edge. */
export interface ConnectionOwner {
  readonly sweep: ConnectionSweep<Http1ServerConnection>;
  readonly keepAliveLines: string;
  readonly maxHeaderBytes: number;
  readonly draining: boolean;
  onRequest(conn: Http1ServerConnection, req: ParsedRequest, res: Http1Response): void;
  /** The socket leaves HTTP; `head` is what was read past the request's head. */
  onTunnel(conn: Http1ServerConnection, req: TunnelRequest, head: Buffer): void;
  /** Input that is not HTTP, a head too slow, a socket error: the edge answers or closes. */
  onClientError(conn: Http1ServerConnection, err: Error & { code?: string }): void;
}

/** Headers that describe one connection, or that this edge acts on itself: it answers `Expect: 100-continue`, so the next hop must not wait for it. */
const DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'expect']);

/** How many parsed requests may wait behind the one being answered before reading stops. */
const MAX_WAITING = 16;

/** A lingering close (`linger`) waits this long for more of the client's body, and this long in all (nginx: 5 s, 30 s). */
const LINGER_QUIET_MS = 5_000;
const LINGER_MAX_MS = 30_000;

function dropLingeringRead(): void {}
/** A client that resets a lingering connection has its answer already. */
function ignoreLingeringError(): void {}

/** A request in the connection's queue, with its response; a tunnel's carries the bytes past its head. */
interface Entry {
  req: ParsedRequest;
  res: Http1Response;
  tunnel: TunnelRequest | null;
  /** A tunnel's bytes read past its head; null until the read that brought the head is over. */
  rest: Buffer | null;
}

export class Http1ServerConnection implements ResponseConnection, SweptConnection {
  private readonly parser: NativeHttpParser = new HTTPParser();
  /** The parser's hold on the socket's reads (it takes them from the handle); null when fed from 'data' events. */
  private readonly reads: ConsumedHandle | null;
  /** The request being answered, and those parsed behind it. */
  private current: Entry | null = null;
  private readonly waiting: Entry[] = [];
  /** The request whose body the parser is reading. */
  private reading: Entry | null = null;
  /** A long head's headers (or a body's trailers) and target, handed over in batches. */
  private flushedHeaders: string[] = [];
  private flushedUrl = '';
  /** Reading stopped for a full request body, or for a tunnel's turn. */
  private bodyFull = false;
  /**
   * The client is not reading its answers: reading stops until the socket drains (node:http's
   * way), or a client that pipelines and never reads has every answer held in the socket's buffer.
   */
  private outputFull = false;
  private upgrading = false;
  private readStopped = false;
  /** Inside a parser callback: moving to the next request waits until the parser returns. */
  private executing = false;
  private advancePending = false;
  /** The connection is ending (an error answered, `Connection: close`), handed to a tunnel, or gone. */
  private closing = false;
  private gone = false;
  /** Cancels the requests of this connection (request-context's one-per-connection signal). */
  abort: AbortController | null = null;
  headSince: number;
  idleSince = -1;

  constructor(
    readonly socket: Socket,
    readonly info: ConnectionInfo,
    private readonly owner: ConnectionOwner,
  ) {
    const parser = this.parser;
    parser.initialize(HTTPParser.REQUEST, {}, owner.maxHeaderBytes, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnMessageBegin] = this.onMessageBegin;
    parser[HTTPParser.kOnHeaders] = this.onHeaders;
    parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.onBody;
    // Holds `onMessageComplete` only while a request's body is being read (`reading`): Node calls
    // into JavaScript at a message's end only when the slot holds a function, and the end of a
    // request without a body has nothing to do. Null, not left out: an empty slot would send each
    // of the parser's lookups of it on to the prototype.
    parser[HTTPParser.kOnMessageComplete] = null;
    // As node:http's server: the parser takes the reads straight from the handle. What the socket
    // already holds (the sniffed bytes the listener unshifted) still comes as 'data', first:
    // node:http's way too.
    this.reads = ConsumedHandle.take(parser, socket, this.onExecute);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    this.headSince = owner.sweep.tick;
    owner.sweep.add(this);
    socket.resume();
    this.reads?.start(socket);
  }

  get keepAliveLines(): string {
    return this.owner.keepAliveLines;
  }

  get draining(): boolean {
    return this.owner.draining;
  }

  /** A response is being answered on the socket: an error can no longer be written as one. */
  get responding(): boolean {
    return this.current !== null;
  }

  /** Between requests, nothing read of the next: what draining closes at once. */
  get idle(): boolean {
    return this.idleSince >= 0;
  }

  /** The reader of a full body wants more. */
  resumeReading(): void {
    if (!this.bodyFull) return;
    this.bodyFull = false;
    this.updateReading();
  }

  /** Writes `100 Continue` (the client waits for it before sending its body). */
  writeContinue(): void {
    if (!this.socket.destroyed) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  headTimedOut(ms: number): void {
    // Reading stopped by this edge (answers unread, waiting requests, a body not yet wanted): the
    // rest of the head waits on us, not on the client, so its clock starts again.
    if (this.readStopped) {
      this.headSince = this.owner.sweep.tick;
      return;
    }
    this.headSince = -1;
    this.fail(new HeadTimeoutError(`request head not complete within ${ms} ms`));
  }

  idleTimedOut(): void {
    this.idleSince = -1;
    this.socket.destroy();
  }

  /** Ends the connection once what is being written has gone (a response that said `Connection: close`). */
  close(): void {
    this.closing = true;
    if (this.reading !== null) return this.linger();
    this.updateReading();
    this.socket.destroySoon();
  }

  /**
   * Answered while the client is still sending a body: closing now, with its bytes unread, would
   * reset the connection, and a client whose kernel takes the reset before it has read the answer
   * loses it (and its writes fail). So, as nginx's lingering close: the answer goes, then a FIN,
   * and what still arrives is read and dropped until the client closes its side, is quiet for
   * LINGER_QUIET_MS, or LINGER_MAX_MS have passed.
   */
  private linger(): void {
    const socket = this.socket;
    this.detach();
    this.dropUnanswered('the proxy answered before the request body was read; the rest of it is dropped');
    socket.on('error', ignoreLingeringError);
    socket.on('data', dropLingeringRead);
    socket.setTimeout(LINGER_QUIET_MS, () => socket.destroy());
    const atMost = setTimeout(() => socket.destroy(), LINGER_MAX_MS).unref();
    socket.once('close', () => clearTimeout(atMost));
    socket.end();
    socket.resume();
  }

  finished(res: Http1Response): void {
    if (this.current?.res !== res) return;
    if (this.executing) this.advancePending = true;
    else this.advance();
  }

  /** The current response is over (or none is): the next request is answered, or the connection closes. */
  private advance(): void {
    const done = this.current;
    if (done !== null && done.res.ended) {
      this.current = null;
      if (!done.res.keepAlive) return this.close();
      // Answered before its body was read whole: the rest is read and dropped, so the next
      // request starts where it should (node:http does the same).
      if (this.reading === done && done.req.body !== null) {
        done.req.body.destroy();
        this.resumeReading();
      }
    }
    if (this.current !== null || this.closing || this.gone) return;
    const next = this.waiting[0];
    if (next === undefined) {
      if (this.reading === null) this.idleSince = this.owner.sweep.tick;
    } else if (next.tunnel === null) {
      this.waiting.shift();
      this.current = next;
      this.owner.onRequest(this, next.req, next.res);
    } else if (next.rest !== null) {
      this.waiting.shift();
      this.handOver(next.tunnel, next.rest);
      return;
    }
    this.updateReading();
  }

  /** CONNECT or Upgrade: the socket's reads go back to it, and it to the tunnel (or to a fresh parse, for h2c). */
  private handOver(req: TunnelRequest, rest: Buffer): void {
    this.closing = true;
    this.detach();
    this.owner.onTunnel(this, req, rest);
  }

  private updateReading(): void {
    const stop = this.bodyFull || this.outputFull || this.upgrading || this.closing || this.waiting.length >= MAX_WAITING;
    if (stop === this.readStopped || this.gone) return;
    this.readStopped = stop;
    if (stop) {
      this.socket.pause();
      this.reads?.stop();
    } else {
      this.socket.resume();
      this.reads?.start(this.socket);
    }
  }

  private readonly onData = (data: Buffer): void => {
    if (this.closing) return;
    this.executing = true;
    this.onExecute(this.parser.execute(data), data);
  };

  /** What the parser made of a read: a count, or an Error when it was not HTTP. */
  private readonly onExecute = (parsed: number | ParseError, data?: Buffer): void => {
    this.executing = false;
    if (typeof parsed !== 'number') {
      this.fail(parsed);
      return;
    }
    const tunnel = this.waiting[this.waiting.length - 1];
    if (this.upgrading && tunnel?.rest === null) {
      // Only here is the read that brought the head at hand: what follows it belongs to the tunnel.
      tunnel.rest = (data ?? this.parser.getCurrentBuffer()).subarray(parsed);
      this.advancePending = true;
    }
    if (this.advancePending) {
      this.advancePending = false;
      this.advance();
    }
  };

  private readonly onMessageBegin = (): void => {
    this.executing = true;
    if (this.headSince < 0) this.headSince = this.owner.sweep.tick;
    this.idleSince = -1;
  };

  private readonly onHeaders: OnHeaders = (headers, url) => {
    this.executing = true;
    for (let i = 0; i < headers.length; i++) this.flushedHeaders.push(headers[i]!);
    this.flushedUrl += url;
  };

  private readonly onHeadersComplete: OnHeadersComplete = (_major, minor, headers, method, url, _s, _m, upgrade, keepAlive) => {
    this.executing = true;
    this.headSince = -1;
    if (headers === undefined) {
      headers = this.flushedHeaders;
      this.flushedHeaders = [];
    }
    if (!url) {
      url = this.flushedUrl;
      this.flushedUrl = '';
    }
    const methodName = METHODS[method!] ?? 'GET';
    const req: ParsedRequest = { method: methodName, url, minor, head: readHttp1Head(headers, DROPPED), body: null };
    const entry: Entry = { req, res: new Http1Response(this, methodName, minor, keepAlive), tunnel: null, rest: null };
    if (upgrade) {
      // The bytes after this head are not HTTP: read no further, and hand the socket over once
      // the requests before it are answered.
      entry.tunnel = { method: methodName, url, httpVersion: `1.${minor}`, rawHeaders: headers, headers: headerObject(headers), socket: this.socket };
      this.upgrading = true;
      this.waiting.push(entry);
      this.updateReading();
      return 2; // llhttp: no body; stop as an upgrade
    }
    if (req.head.hasBody) {
      req.body = new RequestBody(this);
      this.reading = entry;
      this.parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    }
    if (this.socket.writableNeedDrain) {
      this.outputFull = true;
      this.updateReading();
    }
    if (this.current === null && this.waiting.length === 0) {
      this.current = entry;
      this.owner.onRequest(this, req, entry.res);
    } else {
      this.waiting.push(entry);
      this.updateReading();
    }
    return 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    this.executing = true;
    const body = this.reading?.req.body;
    // A body answered already (or whose client left) is read and dropped.
    if (body && !body.destroyed && !body.push(chunk)) {
      this.bodyFull = true;
      this.updateReading();
    }
  };

  /** The end of the body being read (the parser calls this only while `reading` is set). */
  private readonly onMessageComplete = (): void => {
    this.executing = true;
    this.parser[HTTPParser.kOnMessageComplete] = null;
    const entry = this.reading;
    if (entry === null) return;
    this.reading = null;
    const body = entry.req.body!;
    if (this.flushedHeaders.length > 0) {
      body.trailers = readHttp1Head(this.flushedHeaders, HOP_BY_HOP).headers;
      this.flushedHeaders = [];
    }
    body.complete = true;
    if (!body.destroyed) body.push(null);
    // Stopped for a body that has now ended: what comes next is the next request, and an ended
    // body never asks for more.
    this.resumeReading();
    if (this.current === null && this.waiting.length === 0) this.idleSince = this.owner.sweep.tick;
  };

  /** Not HTTP, a head too long or too slow: the edge answers (or closes), and nothing more is read. */
  private fail(err: Error & { code?: string }): void {
    if (this.closing) return;
    this.closing = true;
    this.updateReading();
    this.owner.onClientError(this, err);
  }

  private readonly onEnd = (): void => {
    if (this.closing) return;
    const err = this.parser.finish();
    if (err !== undefined) return this.fail(err);
    // The client has sent its FIN, which (the socket not being half-open) ends the socket's
    // writing too: what it asked for can no longer be answered (node:http aborts it as well).
    if (this.current !== null || this.waiting.length > 0) this.socket.destroy();
  };

  private readonly onError = (err: Error & { code?: string }): void => {
    this.owner.onClientError(this, err);
  };

  private readonly onDrain = (): void => {
    if (this.outputFull) {
      this.outputFull = false;
      this.updateReading();
    }
    this.current?.res.onDrain?.();
  };

  private readonly onClose = (): void => {
    if (this.gone) return;
    this.detach();
    this.dropUnanswered('client closed the connection before the request ended');
  };

  /** The connection is over for HTTP, for the reason `why`: each request on it still open ends unanswered. */
  private dropUnanswered(why: string): void {
    const gone = new ProxyError('UPSTREAM_RESET', why);
    // The body being read may be an answered request's (no longer current, its response ended).
    for (const entry of [this.current, this.reading, ...this.waiting]) {
      if (entry === null) continue;
      const body = entry.req.body;
      if (body !== null && !body.complete && !body.destroyed) body.destroy(gone);
      entry.res.closed();
    }
    this.current = null;
    this.reading = null;
    this.waiting.length = 0;
  }

  /** The connection is done with HTTP: the parser lets go of the handle and the socket. */
  private detach(): void {
    this.gone = true;
    this.owner.sweep.delete(this);
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('error', this.onError);
    socket.off('drain', this.onDrain);
    socket.pause();
    const parser = this.parser;
    if (this.reads !== null) {
      this.reads.release();
      // Reads go to the socket again (stopped above for the parser, whose tunnel now wants them).
      this.reads.start(socket);
    }
    // Not from inside its own callback, which this may be: node:http closes its parsers so too.
    setImmediate(() => parser.close());
  }
}

/** A request head that did not arrive in time (answered 408). */
export class HeadTimeoutError extends CodedError<'HEAD_TIMEOUT'> {
  override readonly name = 'HeadTimeoutError';
  constructor(message: string) {
    super('HEAD_TIMEOUT', message);
  }
}

function headerObject(raw: string[]): IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const prev = Object.hasOwn(headers, name) ? headers[name] : undefined; // not Object's `constructor`
    // A second Host is dropped (node:http's way, and the plain request's: the tunnel goes where
    // the first says, never to "a, b").
    if (prev === undefined) headers[name] = raw[i + 1]!;
    else if (name !== 'host') headers[name] = `${prev}, ${raw[i + 1]}`;
  }
  return headers;
}
