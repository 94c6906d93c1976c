// The viz's errors: each with a stable code, and the HTTP status the viz API answers it with.
import { httpCodedError } from '../api/errors.ts';

/** Each code, and the status the viz API answers it with. */
const HTTP_STATUS = {
  UNKNOWN_KIND: 400, // a resource kind the viz does not know ("deploy/x" is fine, "dpl/x" is not)
  BAD_ARGUMENT: 400, // a malformed filter, window or limit
  NOT_FOUND: 404, // the named resource has no registered pod
  NO_PROXY: 409, // the selected pod runs without a proxy, so it cannot be tapped or scraped
  NOT_READY: 503, // the selected pod's proxy is not ready
  UNAVAILABLE: 503, // a dependency (the destination, Prometheus, a proxy) cannot be reached
  TAP_FAILED: 502, // a proxy refused or broke a tap
} as const;

export type VizErrorCode = keyof typeof HTTP_STATUS;

export class VizError extends httpCodedError(HTTP_STATUS) {
  override readonly name = 'VizError';
}
