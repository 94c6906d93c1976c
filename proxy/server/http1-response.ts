// One response at the HTTP/1.1 edge, written straight to the client's socket: the head is held
// until the first body bytes or the end (so head and a small body leave in one write, as
// node:http's ServerResponse did), framed by the content-length known, else chunked, else (to an
// HTTP/1.0 client) by the connection's close; HEAD, 204 and 304 carry no body.
import type { Socket } from 'node:net';
import type { HeaderMap } from '../http/message.ts';
import { responseHead } from './http1-response-head.ts';

/** What a response needs of its connection. */
export interface ResponseConnection {
  readonly socket: Socket;
  /** `Connection: keep-alive` and the `Keep-Alive: timeout=N` hint (the proxy's pool reads it to close first), each line ended. */
  readonly keepAliveLines: string;
  /** The proxy is draining: no response keeps its connection. */
  readonly draining: boolean;
  /** The response has been written whole: the connection carries the next request, or closes. */
  finished(res: Http1Response): void;
}

/** A whole body up to this size is written in one string with its head (`end`); a larger one as its own Buffer. */
const ONE_WRITE_BODY_BYTES = 8 * 1024;

export class Http1Response {
  /** writeHead has been called: a status has been committed. */
  headersSent = false;
  /** Written whole, destroyed, or its connection closed: nothing more goes out. */
  ended = false;
  /** Once, when the response is over: `complete` false when the client left (or it was cut) first. */
  onClose: ((complete: boolean) => void) | null = null;
  /** The socket drained after a write returned false. */
  onDrain: (() => void) | null = null;
  /** The head, until the first body bytes or the end take it along. */
  private head: string | null = null;
  private chunked = false;
  private bodyless = false;

  constructor(
    private readonly conn: ResponseConnection,
    private readonly method: string,
    /** HTTP/1.x's minor version of the request. */
    private readonly minor: number,
    /** The client keeps the connection after this response (the parser's reading of the request). */
    public keepAlive: boolean,
  ) {}

  /**
   * `bodyLength`: the body's size when all of it is at hand (0 for none), else -1 (a stream).
   * Throws a ResponseHeadError, having committed nothing, for a status or header that cannot be written.
   */
  writeHead(status: number, headers: HeaderMap, bodyLength: number): void {
    const head = responseHead(status, headers);
    this.bodyless = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let framing = '';
    // An HTTP/1.0 client knows no chunking: without a length, the close ends the body.
    if (this.minor === 0 && head.contentLength < 0) this.keepAlive = false;
    else if (!this.bodyless && head.contentLength < 0) {
      if (bodyLength >= 0) framing = `Content-Length: ${bodyLength}\r\n`;
      else {
        this.chunked = true;
        framing = 'Transfer-Encoding: chunked\r\n';
      }
    }
    if (this.conn.draining) this.keepAlive = false;
    this.head = `${head.text}${this.keepAlive ? this.conn.keepAliveLines : 'Connection: close\r\n'}${framing}\r\n`;
    this.headersSent = true;
  }

  /** A piece of the body; false when the socket's buffer is full (wait for `onDrain`). */
  write(chunk: Buffer): boolean {
    if (this.ended) return true;
    if (this.bodyless || chunk.length === 0) {
      if (this.head !== null) this.flushHead();
      return true;
    }
    const socket = this.conn.socket;
    if (this.head === null && !this.chunked) return socket.write(chunk);
    socket.cork();
    if (this.head !== null) this.flushHead();
    const more = this.send(chunk);
    socket.uncork();
    return more;
  }

  /** The last of the body (if any) and, when chunked, the trailers' lines (each ended); then the connection moves on. */
  end(chunk?: Buffer | string, trailerLines = ''): void {
    if (this.ended) return;
    this.ended = true;
    const socket = this.conn.socket;
    if (!socket.destroyed && this.head !== null && !this.chunked && !this.bodyless && Buffer.isBuffer(chunk) && chunk.length <= ONE_WRITE_BODY_BYTES) {
      // A small whole body leaves with its head as one latin1 string (byte for byte the same):
      // one plain write, where corking the two cost Writable's buffering and a writev per response.
      socket.write(this.head + chunk.toString('latin1'), 'latin1');
      this.head = null;
    } else if (!socket.destroyed) {
      socket.cork();
      if (this.head !== null) this.flushHead();
      if (chunk !== undefined && chunk.length > 0 && !this.bodyless) this.send(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (this.chunked) socket.write(`0\r\n${trailerLines}\r\n`, 'latin1');
      socket.uncork();
    }
    this.onClose?.(true);
    this.conn.finished(this);
  }

  /** The response cannot be completed: the connection goes (the client sees it cut, as from node:http). */
  destroy(): void {
    // Ended already: the connection may be serving the next request, which this must not cut.
    if (this.ended) return;
    this.conn.socket.destroy();
    this.closed();
  }

  /** The connection closed: a response not yet ended tells its owner. */
  closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose?.(false);
  }

  private flushHead(): void {
    this.conn.socket.write(this.head!, 'latin1');
    this.head = null;
  }

  private send(chunk: Buffer): boolean {
    const socket = this.conn.socket;
    if (!this.chunked) return socket.write(chunk);
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    return socket.write('\r\n', 'latin1');
  }
}
