// The golden-metrics layer: counts each request, times it to the response headers, and
// classifies the response once its body (and trailers) have ended. The same layer keeps the
// per-route series (route-series.ts): only where its series come from differs.
import { Readable } from 'node:stream';
import { ProxyError, asProxyError } from '../errors.ts';
import { onBodyClose, type BodyCloseHook } from '../http/body-close.ts';
import { headerValue, type HeaderMap, type Layer, type MeshRequest, type MeshResponse } from '../http/message.ts';
import type { RequestSeries } from './http-series.ts';

/**
 * The series a request is counted in, read once its labels are complete. The golden layer
 * looks it up from the request's context (http-series.ts); a route layer holds a fixed one.
 */
export type SeriesOf = (req: MeshRequest) => RequestSeries;

/** gRPC status 1: what a gRPC client sees when its call ends before the server's status. */
const GRPC_CANCELLED = 1;
/** gRPC status 2: what grpc clients make of a grpc-status they cannot parse. */
const GRPC_UNKNOWN = 2;

export function createRequestLayer(seriesOf: SeriesOf): Layer {
  // Not an async function: `inner(req).then(...)` hands the caller one promise, where an async
  // function with `await` makes its own besides and takes extra microtask hops to adopt the
  // inner one. This layer wraps every request, so it stays cheap.
  return (inner) => (req) => {
    const startedAt = performance.now();
    let pending: Promise<MeshResponse>;
    try {
      pending = inner(req);
    } catch (err) {
      pending = Promise.reject(err); // a layer below threw instead of rejecting
    }
    // The request is counted when its response headers come back (or the proxy fails it), not
    // when it enters: only then have the layers below filled in the labels that describe it
    // (the endpoint's tls, server_id and dst_*, the route, the inbound Server and
    // authorization). Counted at entry, one request's request_total and response_total would
    // land in different series (`tls="false"` on the request, `tls="true"` on its response).
    return pending.then(
      (res) => {
        const series = seriesOf(req);
        series.requests++;
        series.latency.observe(performance.now() - startedAt);
        whenSettled(req, res, series);
        return res;
      },
      (err: unknown) => {
        recordProxyError(seriesOf(req), req, asProxyError(err), startedAt);
        throw err;
      },
    );
  };
}

/** A response the proxy makes itself: its status (HTTP 200 + grpc-status for gRPC), always a failure. */
function recordProxyError(series: RequestSeries, req: MeshRequest, err: ProxyError, startedAt: number): void {
  series.requests++;
  series.latency.observe(performance.now() - startedAt);
  const grpc = req.ctx.grpc;
  // A client that left before the answer is not an upstream failure, whatever error the abort caused below.
  const error = req.signal.aborted ? 'CANCELLED' : err.code;
  series.response(grpc ? 200 : err.httpStatus, true, grpc ? err.grpcStatus : undefined, error).count++;
}

/**
 * Records the response once it is over: at once for one whose body is at hand (or none) and whose
 * status needs no trailers, else when the body ends (then the trailers, for the gRPC status) or
 * fails. Only listens to the body: it stays the same stream object, so streaming and
 * backpressure are untouched.
 */
function whenSettled(req: MeshRequest, res: MeshResponse, series: RequestSeries): void {
  const headerStatus = grpcStatusOf(res.headers);
  const trailers = headerStatus === undefined ? res.trailers : undefined;
  const body = res.body;
  // The common case, a small whole response whose status is in its head: counted now.
  if (!(body instanceof Readable) && trailers === undefined) return recordResponse(req, series, res.status, headerStatus, undefined);
  const settling = new SettlingResponse(req, series, res.status, headerStatus, trailers);
  if (!(body instanceof Readable)) return settling.afterBody(); // all of it at hand, its status in the trailers
  onBodyClose(body, settling);
}

/** A response whose body is still streaming, or whose status is in trailers still to come: what recording it needs. */
class SettlingResponse implements BodyCloseHook {
  constructor(
    readonly req: MeshRequest,
    readonly series: RequestSeries,
    readonly status: number,
    /** The gRPC status its head carried, if any. */
    readonly headerStatus: number | undefined,
    /** The trailers to read the gRPC status from, when the head carried none. */
    readonly trailers: Promise<HeaderMap | undefined> | undefined,
  ) {}

  bodyClosed(body: Readable): void {
    // Node ends an HTTP/2 stream's readable side ('end', `readableEnded`) also when the stream is
    // reset or destroyed, as the edge and the endpoint do to the upstream's stream on a cancel.
    // Such a body's trailers say which it was (the endpoint's HTTP/2 client fails them for a cut,
    // and settles them at a whole body's end, even if its client then went away). Without
    // trailers, a body that closes after its client went away was cut.
    if (body.readableEnded && !body.errored && (!this.req.signal.aborted || this.trailers !== undefined)) return this.afterBody();
    this.cut(body.errored);
  }

  afterBody(): void {
    if (this.trailers === undefined) return this.done(this.headerStatus, undefined);
    this.trailers.then(
      (t) => this.done(t ? grpcStatusOf(t) : undefined, undefined),
      (err: unknown) => this.cut(err),
    );
  }

  /**
   * Ended early: the client went away (its signal fired, or the edge destroyed the body with no
   * error), or the upstream failed (`err`: the body's error, or its failed trailers').
   */
  cut(err: unknown): void {
    const cancelled = this.req.signal.aborted || err == null;
    const grpcStatus = this.req.ctx.grpc ? (cancelled ? GRPC_CANCELLED : GRPC_UNKNOWN) : undefined;
    this.done(grpcStatus, cancelled ? 'CANCELLED' : asProxyError(err).code);
  }

  done(grpcStatus: number | undefined, error: string | undefined): void {
    recordResponse(this.req, this.series, this.status, grpcStatus, error);
  }
}

function recordResponse(
  req: MeshRequest,
  series: RequestSeries,
  status: number,
  grpcStatus: number | undefined,
  error: string | undefined,
): void {
  const isFailure = req.ctx.isFailure ?? defaultIsFailure;
  const failed = error !== undefined || isFailure(status, grpcStatus);
  series.response(status, failed, grpcStatus, error).count++;
}

/** Linkerd's default: a 5xx, or a gRPC status other than OK. */
function defaultIsFailure(status: number, grpcStatus: number | undefined): boolean {
  return status >= 500 || (grpcStatus !== undefined && grpcStatus !== 0);
}

/** The grpc-status header as a number 0-16; anything else is UNKNOWN, as gRPC clients read it. */
function grpcStatusOf(headers: HeaderMap): number | undefined {
  const raw = headerValue(headers, 'grpc-status');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 16 && raw.trim() !== '' ? n : GRPC_UNKNOWN;
}
