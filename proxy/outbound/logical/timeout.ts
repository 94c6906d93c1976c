// Timeout layers: a whole-request timeout (retries and response body included) and a per-attempt
// timeout (until response headers). Both also honour ctx.deadline (grpc-timeout), cancel the
// upstream through a signal of their own, and raise ProxyError('RESPONSE_TIMEOUT').
import { Readable } from 'node:stream';
import { ProxyError } from '../../errors.ts';
import { onBodyClose } from '../../http/body-close.ts';
import { offCancel, onCancel, OwnedSignal, type CancelHook } from '../../http/cancel.ts';
import type { Layer, MeshRequest, MeshResponse, Service } from '../../http/message.ts';

export interface TimeoutOptions {
  /** The timeout in ms; 0 = only ctx.deadline applies. */
  ms: number;
  /** True: the timer keeps running while the response body streams (whole-request timeout). */
  coversBody: boolean;
  /** Names the timeout in the error, e.g. `route "GET /orders/{id}" request timeout`. */
  what: string;
}

export function timeoutLayer(opts: TimeoutOptions): Layer {
  // Not an async function: most routes have no timeout and most requests no grpc-timeout, and
  // then the request passes straight through, without a promise and a microtask hop of its own.
  return (inner: Service): Service => (req) => {
    const own = opts.ms > 0 ? Date.now() + opts.ms : Infinity;
    const deadline = Math.min(own, req.ctx.deadline ?? Infinity);
    if (deadline === Infinity) return inner(req);
    const bySelf = own <= (req.ctx.deadline ?? Infinity);
    const message = bySelf ? `${opts.what} of ${opts.ms} ms expired` : `request deadline (grpc-timeout) expired`;
    // Layers below (the endpoint tier) may propagate the sooner deadline as grpc-timeout.
    if (opts.coversBody) req.ctx.deadline = deadline;
    req.ctx.journey?.add('timeout', bySelf ? `${opts.what}: ${opts.ms} ms` : `grpc-timeout deadline: ${Math.max(0, deadline - Date.now())} ms left`);
    return withDeadline(inner, req, deadline, opts.coversBody, message);
  };
}

async function withDeadline(
  inner: Service,
  req: MeshRequest,
  deadline: number,
  coversBody: boolean,
  message: string,
): Promise<MeshResponse> {
  // The signal the layers below hear: this layer alone aborts it (a cancel from above, or the
  // deadline), so it is an OwnedSignal, not an AbortController with an 'abort' listener per
  // request below it (http/cancel.ts). The cancel from above comes through a hook: on HTTP/1 the
  // request's signal is the client connection's, shared by its requests.
  const signal = new OwnedSignal();
  const forwardAbort: CancelHook = { onCancel: () => signal.abort(req.signal.reason) };
  onCancel(req.signal, forwardAbort);

  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let onExpire: (err: ProxyError) => void = () => {};
  const release = () => {
    clearTimeout(timer);
    offCancel(req.signal, forwardAbort);
  };
  const expired = new Promise<never>((_, reject) => {
    onExpire = reject;
    timer = setTimeout(() => {
      timedOut = true;
      const err = new ProxyError('RESPONSE_TIMEOUT', message);
      signal.abort(err); // cancels the upstream request (RST_STREAM / socket close below)
      onExpire(err);
    }, Math.max(0, deadline - Date.now()));
  });
  expired.catch(() => {}); // raced below; never unhandled

  const pending = inner({ ...req, signal });
  // A response that arrives after the deadline is nobody's: drain it so its connection is freed.
  pending.then((res) => timedOut && res.body instanceof Readable && res.body.destroy(), () => {});
  let res: MeshResponse;
  try {
    res = await Promise.race([pending, expired]);
  } catch (err) {
    release();
    throw err;
  }
  const body = res.body;
  if (!(body instanceof Readable)) {
    release(); // no body, or all of it at hand: the response is over
    return res;
  }
  // A per-attempt timeout ends with the head; the whole-request one keeps watching the body,
  // which errors mid-way on expiry.
  if (coversBody) onExpire = (err) => body.destroy(err);
  else clearTimeout(timer);
  // Until the body is over (closed: ended or destroyed), a cancel from above still reaches the upstream.
  onBodyClose(body, { bodyClosed: release });
  return res;
}
