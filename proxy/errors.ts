// Typed errors raised by the proxy's layers; one place (the server edge) turns them into
// an HTTP status with `l5d-proxy-error`, or a gRPC status, as DESIGN.md says.
import { CodedError } from '../api/errors.ts';

/** Stable codes: tests, logs and metrics match on these, never on messages. */
export type ProxyErrorCode =
  | 'NO_ENDPOINTS' // the service exists but has no ready endpoint (503 / UNAVAILABLE)
  | 'UNAVAILABLE' // every endpoint is out of the balancer (failure accrual) (503 / UNAVAILABLE)
  | 'CONNECT_FAILED' // TCP or TLS connect to an endpoint failed (502 / UNAVAILABLE)
  | 'IDENTITY_MISMATCH' // the peer's certificate names another identity (502 / UNAVAILABLE)
  | 'UPSTREAM_RESET' // the upstream closed or reset before a complete response (502 / UNAVAILABLE)
  | 'RESPONSE_TIMEOUT' // a route or request timeout fired (504 / DEADLINE_EXCEEDED)
  | 'FORBIDDEN' // inbound policy refused the caller (403 / PERMISSION_DENIED)
  | 'BAD_REQUEST' // the request itself is malformed (400 / INTERNAL)
  | 'EXPECTATION_FAILED' // an HTTP/1.1 `Expect` other than 100-continue, which no proxy can promise for its upstream (417 / INTERNAL)
  | 'LOOP' // the request would come back to this proxy (502 / UNAVAILABLE)
  | 'ROUTE_REFUSED' // the matched route cannot be served as written: an unsupported filter, a missing backend, a redirect loop (500 / INTERNAL)
  | 'SHUTTING_DOWN'; // the proxy is draining (503 / UNAVAILABLE)

const STATUS: Record<ProxyErrorCode, { http: number; grpc: number }> = {
  NO_ENDPOINTS: { http: 503, grpc: 14 },
  UNAVAILABLE: { http: 503, grpc: 14 },
  CONNECT_FAILED: { http: 502, grpc: 14 },
  IDENTITY_MISMATCH: { http: 502, grpc: 14 },
  UPSTREAM_RESET: { http: 502, grpc: 14 },
  RESPONSE_TIMEOUT: { http: 504, grpc: 4 },
  FORBIDDEN: { http: 403, grpc: 7 },
  BAD_REQUEST: { http: 400, grpc: 13 },
  EXPECTATION_FAILED: { http: 417, grpc: 13 },
  LOOP: { http: 502, grpc: 14 },
  ROUTE_REFUSED: { http: 500, grpc: 13 },
  SHUTTING_DOWN: { http: 503, grpc: 14 },
};

export class ProxyError extends CodedError<ProxyErrorCode> {
  override readonly name = 'ProxyError';

  get httpStatus(): number {
    return STATUS[this.code].http;
  }

  get grpcStatus(): number {
    return STATUS[this.code].grpc;
  }

  /** Prefix the message with where it happened: `route POST /orders: endpoint 127.0.10.2:4143: connect refused`. */
  withContext(context: string): ProxyError {
    const wrapped = new ProxyError(this.code, `${context}: ${this.message}`, { cause: this.cause });
    return wrapped;
  }
}

/** Anything thrown below a layer becomes a ProxyError; unknown errors count as an upstream reset. */
export function asProxyError(err: unknown, context?: string): ProxyError {
  const e =
    err instanceof ProxyError
      ? err
      : new ProxyError('UPSTREAM_RESET', err instanceof Error ? err.message : String(err), { cause: err });
  return context ? e.withContext(context) : e;
}
