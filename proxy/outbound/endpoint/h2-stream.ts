// One request on an HTTP/2 session: body and trailers up, response and trailers down,
// cancellation as RST_STREAM(CANCEL), and a reset noticed even when Node reports it as a quiet
// close: before the response, or in the middle of its body.
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { ProxyError } from '../../errors.ts';
import { offCancel, onCancel, type CancelHook } from '../../http/cancel.ts';
import { forward, forwardedTo } from '../../http/forward.ts';
import { endToEndHeaders } from '../../http/hop-by-hop.ts';
import type { HeaderMap, MeshRequest, MeshResponse } from '../../http/message.ts';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface StreamHooks {
  /** The stream closed (the session's open-stream count goes down). */
  onClose: () => void;
  /** Sends the request again after REFUSED_STREAM; absent for a request already retried. */
  retryRefused?: (req: MeshRequest) => Promise<MeshResponse>;
}

const kExchange = Symbol('mesh.h2-exchange');
type TaggedStream = ClientHttp2Stream & { [kExchange]?: H2Exchange };

/**
 * One stream's state. It is its own cancel hook, and the stream's listeners are functions shared
 * by every stream that find it on the stream (`this`): no closure per stream and listener.
 */
class H2Exchange implements CancelHook {
  responded = false;
  failure: Error | undefined = undefined;
  /** The response's trailers, while they are awaited (`resolveTrailers` set): a whole response settles them as it ends. */
  trailers: Promise<HeaderMap | undefined> | undefined = undefined;
  resolveTrailers: ((t: HeaderMap | undefined) => void) | undefined = undefined;
  rejectTrailers: ((err: Error) => void) | undefined = undefined;

  constructor(
    readonly stream: ClientHttp2Stream,
    readonly req: MeshRequest,
    readonly label: string,
    readonly hooks: StreamHooks,
    readonly resolve: (res: MeshResponse) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  /** `req.signal` aborted, or the request body failed: the upstream stream goes. */
  onCancel(): void {
    if (!this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }

  settleTrailers(t: HeaderMap | undefined): void {
    const resolve = this.resolveTrailers;
    this.resolveTrailers = undefined;
    this.rejectTrailers = undefined;
    resolve?.(t);
  }

  /** The body was cut: whoever waits for the trailers (an edge, the metrics, tap) hears it as an error. */
  failTrailers(err: Error): void {
    const reject = this.rejectTrailers;
    this.resolveTrailers = undefined;
    this.rejectTrailers = undefined;
    if (reject === undefined) return;
    // A response whose trailers nobody reads (a body sent on with a length) must not end the process.
    this.trailers!.catch(noop);
    reject(err);
  }
}

function noop(): void {}

export function exchange(stream: ClientHttp2Stream, req: MeshRequest, label: string, hooks: StreamHooks): Promise<MeshResponse> {
  return new Promise((resolve, reject) => {
    const ex = new H2Exchange(stream, req, label, hooks, resolve, reject);
    (stream as TaggedStream)[kExchange] = ex;
    // An HTTP/1 client's requests share its connection's signal: a cancel hook, not a listener.
    onCancel(req.signal, ex);

    if (req.body) {
      req.body.on('error', onRequestBodyError);
      forward(req.body, stream);
      // The stream was opened with waitForTrailers: it stays open until trailers (maybe none) go.
      if (req.trailers) stream.on('wantTrailers', onWantTrailers);
    }
    stream.on('response', onResponse);
    stream.on('trailers', onTrailers);
    // Always listened to, so a bad stream cannot kill the process. Before a response, 'close'
    // decides what happened (it may retry a refused stream); after, the body's reader sees it.
    stream.on('error', onError);
    // 'wantTrailers', 'close' and an 'error' come once at most: `on`, no `once` wrapper.
    stream.on('close', onClose);
  });
}

/** The request body failed (the client went away mid-body): the upstream stream (the body's forward destination) goes. */
function onRequestBodyError(this: Readable): void {
  (forwardedTo(this) as TaggedStream)[kExchange]!.onCancel();
}

function onWantTrailers(this: TaggedStream): void {
  const ex = this[kExchange]!;
  const stream = this;
  ex.req.trailers!.then(
    (t) => {
      // A stream closed meanwhile (a cancel, a reset) is not destroyed yet, but sendTrailers
      // throws on it, and here that would be an unhandled rejection: the end of the process.
      if (!stream.destroyed && !stream.closed) stream.sendTrailers(t ?? {});
    },
    () => ex.onCancel(),
  );
}

function onResponse(this: TaggedStream, raw: IncomingHttpHeaders, flags: number): void {
  const ex = this[kExchange]!;
  if (ex.responded) return;
  ex.responded = true;
  const endOfStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
  if (endOfStream) {
    // Trailers-only (gRPC errors) or an empty body: nothing to stream, nothing to follow (the
    // stream may stay open while the request's body still goes up), but drain so the stream closes.
    this.resume();
    ex.resolve({ status: Number(raw[':status']), headers: endToEndHeaders(raw), body: null, trailers: NO_TRAILERS });
    return;
  }
  this.on('end', onBodyEnd);
  const trailers = new Promise<HeaderMap | undefined>((resolve, reject) => {
    ex.resolveTrailers = resolve;
    ex.rejectTrailers = reject;
  });
  ex.trailers = trailers;
  ex.resolve({ status: Number(raw[':status']), headers: endToEndHeaders(raw), body: this, trailers });
}

/** The trailers of a response that ended with its head: none. */
const NO_TRAILERS: Promise<HeaderMap | undefined> = Promise.resolve(undefined);

/**
 * The body's end. Node ends a stream's readable side both for the server's END_STREAM and when
 * the stream is reset: the end of a whole body read as it came comes while the stream is still
 * open; a reset has closed it first. A body ended by END_STREAM has no trailers to wait for, and
 * the stream may stay open for a while yet (the request's body still going up): they are settled
 * now (which also marks the response whole), so it ends downstream without waiting for the upload.
 */
function onBodyEnd(this: TaggedStream): void {
  if (!this.closed) this[kExchange]!.settleTrailers(undefined);
}

function onTrailers(this: TaggedStream, raw: IncomingHttpHeaders): void {
  this[kExchange]!.settleTrailers(endToEndHeaders(raw));
}

function onError(this: TaggedStream, err: Error): void {
  const ex = this[kExchange]!;
  if (!ex.responded) ex.failure = err;
}

function onClose(this: TaggedStream): void {
  const ex = this[kExchange]!;
  const { req, hooks } = ex;
  hooks.onClose();
  offCancel(req.signal, ex);
  // A reset with NO_ERROR or CANCEL closes the stream without an 'error': a missing response, or
  // a body cut short, has to be noticed here.
  if (ex.responded) {
    const cut = whyCut(this, ex);
    if (cut === undefined) ex.settleTrailers(undefined);
    else ex.failTrailers(new ProxyError('UPSTREAM_RESET', `${ex.label}: ${cut}`));
    return;
  }
  ex.settleTrailers(undefined);
  ex.responded = true;
  const refused = this.rstCode === NGHTTP2_REFUSED_STREAM;
  // A refused stream was not processed: without a body already spent, it may go again.
  if (refused && hooks.retryRefused && req.body === null && !req.signal.aborted) {
    hooks.retryRefused(req).then(ex.resolve, ex.reject);
    return;
  }
  const failure = ex.failure;
  const why = req.signal.aborted
    ? 'request cancelled by the client'
    : refused
      ? 'stream refused by the server'
      : failure
        ? failure.message
        : `stream reset (code ${this.rstCode ?? 'none'}) before the response`;
  ex.reject(new ProxyError('UPSTREAM_RESET', `${ex.label}: ${why}`, { cause: failure }));
}

/**
 * Why the body ended before its end, or undefined when it came whole: our own cancel (the
 * client went away, a timeout), or a reset before the body's end was read. A whole body read to
 * its end and then reset is not cut: a server that has answered may reset the stream to stop the
 * rest of the request's upload (RFC 9113, 8.1), and Node then reports the reset's code on a stream
 * whose body ended first. A body Node never ended is cut whatever the code: the reset came while
 * what it held waited to be read, and Node dropped it (even a whole body's). A reset with NO_ERROR
 * in the middle of a body cannot be told from a whole body that was read after the stream
 * closed: both end on a closed stream with code 0, so it passes as whole.
 */
function whyCut(stream: TaggedStream, ex: H2Exchange): string | undefined {
  // Settled already: the trailers came, or the response ended whole (with its head, or on its body's END_STREAM).
  if (ex.resolveTrailers === undefined) return undefined;
  if (ex.req.signal.aborted) return 'request cancelled before the end of the response body';
  if (stream.readableEnded && stream.rstCode === NGHTTP2_NO_ERROR) return undefined;
  return stream.errored ? stream.errored.message : `the stream was reset (code ${stream.rstCode}) before the end of the response body`;
}
