// One HTTP/1.1 request's lifecycle as its connection reports it (http1-connection.ts's handler
// callbacks), turned into a MeshResponse: its body a Buffer when it came whole with the head, else
// a Readable with backpressure back to the socket.
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ProxyError } from '../../errors.ts';
import { offCancel, onCancel, type CancelHook } from '../../http/cancel.ts';
import { HOP_BY_HOP } from '../../http/hop-by-hop.ts';
import { readHttp1Head } from '../../http/http1-head.ts';
import type { HeaderMap, MeshRequest, MeshResponse } from '../../http/message.ts';
import type { Http1Handler } from './http1-connection.ts';

const NO_BODY_STATUS = new Set([204, 304]);

/**
 * The most a response may gather before it streams: a whole body up to this size that came in
 * the same reads as its head goes on as one Buffer; anything longer streams, with backpressure.
 */
const WHOLE_BODY_BYTES = 64 * 1024;

export class Http1Exchange implements Http1Handler, CancelHook {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private body: ResponseBody | null = null;
  private responded = false;
  private resolveTrailers: ((t: HeaderMap | undefined) => void) | undefined;
  /**
   * The small-body path. A response with a length (not chunked) is held back after its head
   * until the end of the socket read that brought it (`onReadEnd`): most small responses end
   * in that read, and then go on whole, as a Buffer, with no stream built for them. One that
   * has not ended by then streams from there, so a slow or endless body waits for nothing.
   */
  private held: { status: number; headers: HeaderMap; chunks: Buffer[]; bytes: number; resume: () => void } | null = null;

  constructor(
    private readonly req: MeshRequest,
    private readonly label: string,
    private readonly resolve: (res: MeshResponse) => void,
    private readonly reject: (err: ProxyError) => void,
    private readonly logger: Logger,
  ) {}

  /**
   * The pool sends the request again on a fresh connection (the server had closed the reused one
   * as idle): invisible to the caller, so said at debug for the operator who wonders why the
   * endpoint saw a connection more, or a 408 in its own logs that no client received.
   */
  onResend(why: string): void {
    const req = this.req;
    this.logger.debug(
      { request: req.ctx.id, method: req.method, authority: req.authority, why },
      `${req.method} ${req.authority} to ${this.label}: sent again on a fresh connection (${why})`,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    // A second connection (the request sent again): the hook is registered once, or the signal,
    // which outlives the request on HTTP/1, would keep the exchange after it ended.
    if (this.abortUpstream !== undefined) offCancel(this.req.signal, this);
    this.abortUpstream = abort;
    // The exchange is its own cancel hook: no closure per request (http/cancel.ts says why not
    // an 'abort' listener per request).
    onCancel(this.req.signal, this);
  }

  /** `req.signal` aborted: the client went away, so the upstream request goes too. */
  onCancel(): void {
    this.abortUpstream?.(new ProxyError('UPSTREAM_RESET', `${this.label}: request cancelled by the client`));
  }

  onHeaders(status: number, rawHeaders: string[], resume: () => void): boolean {
    this.responded = true;
    const head = readHttp1Head(rawHeaders, HOP_BY_HOP);
    if (this.req.method === 'HEAD' || NO_BODY_STATUS.has(status)) {
      this.resolve({ status, headers: head.headers, body: null });
      return true;
    }
    if (!head.chunked) {
      this.held = { status, headers: head.headers, chunks: [], bytes: 0, resume };
      return true;
    }
    // Only a chunked body can end with trailers. Without the promise, the edge and the metrics
    // layer finish the response on the body's end alone: one promise, its callbacks and a
    // microtask hop fewer per response (most responses carry a content-length).
    this.body = new ResponseBody(resume, this);
    const trailers = new Promise<HeaderMap | undefined>((r) => (this.resolveTrailers = r));
    this.resolve({ status, headers: head.headers, body: this.body, trailers });
    return true;
  }

  onData(chunk: Buffer): boolean {
    const held = this.held;
    if (held !== null) {
      held.chunks.push(chunk);
      held.bytes += chunk.length;
      if (held.bytes > WHOLE_BODY_BYTES) this.stream();
      return true;
    }
    // false pauses the socket until the consumer reads again (ResponseBody._read): backpressure.
    return this.body ? this.body.push(chunk) : true;
  }

  /** The read is over and the body has not ended in it: a held response streams from here. */
  onReadEnd(): void {
    this.stream();
  }

  onComplete(rawTrailers: string[] | null): void {
    this.done();
    const held = this.held;
    if (held !== null) {
      // The whole body came with the head: one Buffer, no stream.
      this.held = null;
      const body = held.chunks.length === 1 ? held.chunks[0]! : Buffer.concat(held.chunks, held.bytes);
      this.resolve({ status: held.status, headers: held.headers, body });
      return;
    }
    this.body?.push(null);
    this.resolveTrailers?.(rawTrailers && rawTrailers.length > 0 ? readHttp1Head(rawTrailers, HOP_BY_HOP).headers : undefined);
  }

  onError(err: Error): void {
    this.done();
    const error = toProxyError(err, this.label);
    if (!this.responded) return this.reject(error);
    if (this.held !== null) this.stream(); // the head went on as it would have: the body fails below
    this.resolveTrailers?.(undefined);
    // Failed on the next turn of the event loop: a body handed on in this same turn (its head and
    // what broke it came in one read) has no reader yet, since the edge takes the response some
    // promise callbacks later, and an 'error' with no listener would be an uncaught exception
    // (the proxy's end) while the edge, listening too late, kept its client waiting for good.
    if (this.body !== null) setImmediate(failBody, this.body, error);
  }

  /** A held response streams from here: its head goes on now, with what came of its body so far. */
  private stream(): void {
    const held = this.held;
    if (held === null) return; // ended whole, or streaming already
    this.held = null;
    this.body = new ResponseBody(held.resume, this);
    for (const chunk of held.chunks) this.body.push(chunk);
    this.resolve({ status: held.status, headers: held.headers, body: this.body });
  }

  /** The consumer dropped the body before its end: stop the upstream request too. */
  cancelFromBody(err: Error | null): void {
    this.abortUpstream?.(err ?? new ProxyError('UPSTREAM_RESET', `${this.label}: response body abandoned`));
  }

  private done(): void {
    offCancel(this.req.signal, this);
  }
}

function failBody(body: ResponseBody, err: ProxyError): void {
  body.destroy(err);
}

class ResponseBody extends Readable {
  private ended = false;
  constructor(
    private readonly resumeUpstream: () => void,
    private readonly exchange: Http1Exchange,
  ) {
    super();
  }
  override _read(): void {
    this.resumeUpstream();
  }
  override push(chunk: Buffer | null): boolean {
    if (chunk === null) this.ended = true;
    return super.push(chunk);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.ended) this.exchange.cancelFromBody(err);
    cb(err);
  }
}

/** What the connection raises is a ProxyError already; anything else counts as an upstream reset. */
function toProxyError(err: Error, label: string): ProxyError {
  if (err instanceof ProxyError) return err;
  return new ProxyError('UPSTREAM_RESET', `${label}: ${err.message}`, { cause: err });
}
