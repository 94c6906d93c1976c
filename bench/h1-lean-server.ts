// A lean HTTP/1.1 server for bench/h1-floor.ts `--server lean`: Node's native parser
// (proxy/http/native-http-parser.ts, the llhttp node:http uses) reading the socket's
// handle itself, as node:http's server does, with no IncomingMessage, ServerResponse or stream per
// request, to measure what node:http's server side costs the floor. A measurement, not the
// proxy's edge: it does not answer `Expect: 100-continue`, hand off CONNECT or Upgrade (both get
// 501 and the connection closes), time out a slow head, an idle keep-alive connection or a slow
// body, or drain; pipelined requests are answered one at a time, in order, each once the one
// before has ended; a response that ends before its request's body closes the connection rather
// than read the rest; no `Date` header. What building it into the proxy would have to keep:
// bench/NOTES.md, round 6.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ConsumedHandle, HTTPParser, METHODS, type NativeHttpParser, type OnHeaders, type OnHeadersComplete, type ParseError } from '../proxy/http/native-http-parser.ts';

/** node:http's default limit on a request head. */
const MAX_HEADER_BYTES = 16 * 1024;
/** Statuses whose responses have no body, whatever their headers say. */
const NO_BODY_STATUS = new Set([204, 304]);

/** One request as the parser read it: its head, and its body as a stream (null when it has none). */
export interface LeanRequest {
  method: string;
  url: string;
  /** HTTP/1.x's minor version: 0 or 1. */
  minor: number;
  /** [name, value, ...] in the case the client wrote. */
  rawHeaders: string[];
  body: RequestBody | null;
}

/**
 * Serves each connection handed to it (`net.Server`'s or `tls.Server`'s socket) with `onRequest`.
 * `consume: false` feeds the parser from the socket's 'data' events instead of letting it read the
 * socket's handle (the first version measured, kept to compare the two).
 */
export function leanHttpServer(onRequest: (req: LeanRequest, res: LeanResponse) => void, options: { consume: boolean } = { consume: true }): (socket: Socket) => void {
  return (socket) => void new LeanConnection(socket, onRequest, options.consume);
}

/** A request body: the parser pushes into it; a full buffer pauses the socket until it is read again. */
export class RequestBody extends Readable {
  constructor(private readonly connection: LeanConnection) {
    super();
  }
  override _read(): void {
    this.connection.resumeReading();
  }
}

class LeanConnection {
  private readonly parser: NativeHttpParser = new HTTPParser();
  /** The response being written (each holds its request); those read while it is in flight wait in `waiting`. */
  private current: LeanResponse | null = null;
  private readonly waiting: LeanResponse[] = [];
  /** The one whose request the parser is reading (its body goes there). */
  private reading: LeanResponse | null = null;
  /** A long head's headers and target, handed over in batches before the head's end. */
  private flushedHeaders: string[] = [];
  private flushedUrl = '';
  /** Reading is stopped because a request body's reader is full. */
  private paused = false;
  /** The parser's hold on the socket's reads (`consume`); null when the parser is fed 'data' events. */
  private readonly reads: ConsumedHandle | null;
  /** The client has sent its FIN: the connection closes once what it asked for is answered. */
  private ended = false;

  constructor(
    readonly socket: Socket,
    private readonly onRequest: (req: LeanRequest, res: LeanResponse) => void,
    consume: boolean,
  ) {
    const parser = this.parser;
    parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnHeaders] = this.onHeaders;
    parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.onBody;
    parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    // As node:http's server: the parser takes the reads straight from the handle, in C++, with
    // no Buffer handed to JavaScript and no 'data' event per read. 'end' and 'close' still come.
    this.reads = consume ? ConsumedHandle.take(parser, socket, this.onExecute) : null;
    if (this.reads === null) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', () => {}); // the 'close' that follows is what counts
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.reads === null) this.socket.resume();
    else this.reads.start(this.socket);
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    if (this.reads === null) this.socket.pause();
    else this.reads.stop();
  }

  private readonly onData = (data: Buffer): void => {
    this.onExecute(this.parser.execute(data));
  };

  /** What the parser made of a read: a count, or an Error when it was not HTTP. */
  private readonly onExecute = (parsed: number | ParseError): void => {
    if (typeof parsed !== 'number') this.refuse(parsed.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400);
  };

  private readonly onHeaders: OnHeaders = (headers, url) => {
    for (let i = 0; i < headers.length; i++) this.flushedHeaders.push(headers[i]!);
    this.flushedUrl += url;
  };

  private readonly onHeadersComplete: OnHeadersComplete = (_major, minor, headers, method, url, _s, _t, upgrade, keepAlive) => {
    if (headers === undefined) {
      headers = this.flushedHeaders;
      this.flushedHeaders = [];
    }
    if (!url) {
      url = this.flushedUrl;
      this.flushedUrl = '';
    }
    let hasBody = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') hasBody = headers[i + 1] !== '0';
      else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') hasBody = true;
    }
    const req: LeanRequest = { method: METHODS[method!] ?? 'GET', url, minor, rawHeaders: headers, body: hasBody ? new RequestBody(this) : null };
    const res = new LeanResponse(this, req, keepAlive && !upgrade, upgrade);
    // CONNECT or Upgrade: the bytes after the head are not HTTP; read no further.
    if (upgrade) this.pauseReading();
    this.reading = res;
    // Answered now, or after the ones before it.
    if (this.current === null) {
      this.current = res;
      this.answer(res);
    } else {
      this.waiting.push(res);
    }
    return 0;
  };

  private answer(res: LeanResponse): void {
    // A measurement has no tunnel to give a CONNECT or an Upgrade.
    if (res.tunnel) res.writeHead(501).end('the floor does not tunnel');
    else this.onRequest(res.req, res);
  }

  private readonly onBody = (chunk: Buffer): void => {
    const body = this.reading?.req.body;
    if (body && !body.push(chunk)) this.pauseReading();
  };

  private readonly onMessageComplete = (): void => {
    const res = this.reading;
    if (res === null) return;
    this.reading = null;
    res.req.body?.push(null);
    // Paused for a body whose reader was full: what comes next is the next request, not this body
    // (an ended body never asks for more, so nothing else would resume the socket).
    this.resumeReading();
  };

  /** A response has been written whole: the connection carries the next request, or closes. */
  finished(res: LeanResponse): void {
    if (this.current !== res) return;
    this.current = null;
    // The response ended before its request was read whole: the next request starts somewhere in
    // the rest, which nothing reads. Closed instead (node:http reads the rest and drops it).
    if (!res.keepAlive || this.reading === res) {
      this.socket.end();
      return;
    }
    const next = this.waiting.shift();
    if (next !== undefined) {
      this.current = next;
      this.answer(next);
    } else if (this.ended) {
      this.socket.end();
    }
  }

  /** Not HTTP, or a head too long: node:http's answers (400, 431), then the connection closes. */
  private refuse(status: number): void {
    const socket = this.socket;
    if (socket.writable && (this.current === null || !this.current.headersSent)) {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\n\r\n`, 'latin1');
    } else {
      socket.destroy();
    }
  }

  private readonly onEnd = (): void => {
    this.ended = true;
    const err = this.parser.finish();
    if (err || this.reading !== null) {
      // The client stopped in the middle of a request: there is nothing to answer.
      this.socket.destroy();
      return;
    }
    if (this.current === null) this.socket.end();
  };

  private readonly onDrain = (): void => {
    this.current?.drained();
  };

  private readonly onClose = (): void => {
    this.parser.close();
    for (const res of [this.current, ...this.waiting]) {
      if (res === null) continue;
      const body = res.req.body;
      if (body !== null && !body.readableEnded) body.destroy();
      res.closed();
    }
    this.current = null;
    this.waiting.length = 0;
  };
}

/**
 * A response, as much of node:http's ServerResponse as the floor's forwarding uses. The head is
 * held until the end of the socket read that brought it (a microtask): a body that has ended by
 * then leaves with the head in one write. Framing: the `content-length` given, else chunked (to
 * an HTTP/1.0 client: until the connection closes); none for HEAD, 204 and 304.
 */
export class LeanResponse {
  private head: string | null = null;
  private held: Buffer[] | null = null;
  private chunked = false;
  private bodyless = false;
  private done = false;
  headersSent = false;
  private onClose: (() => void) | undefined;
  private onDrain: (() => void) | undefined;

  constructor(
    private readonly connection: LeanConnection,
    readonly req: LeanRequest,
    /** The client keeps the connection after this response. */
    public keepAlive: boolean,
    /** The request was a CONNECT or an Upgrade. */
    readonly tunnel: boolean,
  ) {}

  on(event: 'close' | 'drain', listener: () => void): this {
    if (event === 'close') this.onClose = listener;
    else this.onDrain = listener;
    return this;
  }

  /** `headers`: [name, value, ...], names lower case, no hop-by-hop ones, values from a parser (no CR or LF). */
  writeHead(status: number, headers: string[] = []): this {
    let length = false;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'content-length') length = true;
      text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    this.bodyless = this.req.method === 'HEAD' || NO_BODY_STATUS.has(status) || status < 200;
    if (!this.bodyless && !length) {
      if (this.req.minor === 0) this.keepAlive = false;
      else {
        this.chunked = true;
        text += 'transfer-encoding: chunked\r\n';
      }
    }
    this.head = `${text}connection: ${this.keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
    this.headersSent = true;
    this.held = [];
    queueMicrotask(this.flush);
    return this;
  }

  write(chunk: Buffer): boolean {
    if (this.done || this.bodyless || chunk.length === 0) return true;
    if (this.held !== null) {
      this.held.push(chunk);
      return true;
    }
    return this.send(chunk);
  }

  end(text?: string): void {
    if (this.done) return;
    if (text !== undefined) this.write(Buffer.from(text));
    this.done = true;
    const socket = this.connection.socket;
    socket.cork();
    this.flush();
    if (this.chunked) socket.write('0\r\n\r\n', 'latin1');
    socket.uncork();
    this.connection.finished(this);
  }

  destroy(): void {
    this.done = true;
    this.connection.socket.destroy();
  }

  /** The head goes, with what came of the body so far (all of it, when `end` called this). */
  private readonly flush = (): void => {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    const socket = this.connection.socket;
    socket.cork();
    socket.write(this.head!, 'latin1');
    for (const chunk of held) this.send(chunk);
    socket.uncork();
  };

  private send(chunk: Buffer): boolean {
    const socket = this.connection.socket;
    if (!this.chunked) return socket.write(chunk);
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const more = socket.write('\r\n', 'latin1');
    socket.uncork();
    return more;
  }

  drained(): void {
    this.onDrain?.();
  }

  /** The connection closed: a response not yet ended tells its owner (the client went away). */
  closed(): void {
    if (this.done) return;
    this.done = true;
    this.onClose?.();
  }
}
