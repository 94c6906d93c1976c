// The viz's errors: each with a stable code, and the HTTP status the viz API answers it with.
import { HttpCodedError } from '../api/errors.ts';

export type VizErrorCode =
  | 'UNKNOWN_KIND' // a resource kind the viz does not know ("deploy/x" is fine, "dpl/x" is not)
  | 'BAD_ARGUMENT' // a malformed filter, window or limit
  | 'NOT_FOUND' // the named resource has no registered pod
  | 'NO_PROXY' // the selected pod runs without a proxy, so it cannot be tapped or scraped
  | 'NOT_READY' // the selected pod's proxy is not ready
  | 'UNAVAILABLE' // a dependency (the destination, Prometheus, a proxy) cannot be reached
  | 'TAP_FAILED'; // a proxy refused or broke a tap

const HTTP_STATUS: Record<VizErrorCode, number> = {
  UNKNOWN_KIND: 400,
  BAD_ARGUMENT: 400,
  NOT_FOUND: 404,
  NO_PROXY: 409,
  NOT_READY: 503,
  UNAVAILABLE: 503,
  TAP_FAILED: 502,
};

export class VizError extends HttpCodedError<VizErrorCode> {
  override readonly name = 'VizError';
  protected get statuses(): Readonly<Record<VizErrorCode, number>> {
    return HTTP_STATUS;
  }
}
