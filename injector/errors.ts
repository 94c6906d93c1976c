// Typed errors of the injector: a stable `code` for tests and logs, and the HTTP status the webhook answers with.
import { httpCodedError } from '../api/errors.ts';

/** Each code, and the status the webhook answers it with. */
const HTTP_STATUS = {
  INVALID_WORKLOAD: 422, // the object is not a well-formed workload (names the field)
  BAD_YAML: 400, // `mesh inject` input does not parse
  BAD_REVIEW: 400, // the webhook body is not a usable AdmissionReview
  BODY_TOO_LARGE: 413, // the webhook body exceeds the limit
  BODY_INCOMPLETE: 400, // the client went away before sending the whole body (usually unread)
  UNSUPPORTED_MEDIA_TYPE: 415, // the webhook body is not JSON
  NOT_FOUND: 404, // no such webhook path
  METHOD_NOT_ALLOWED: 405, // the webhook path only takes POST
} as const;

export type InjectorErrorCode = keyof typeof HTTP_STATUS;

export class InjectorError extends httpCodedError(HTTP_STATUS) {
  override readonly name = 'InjectorError';
}
