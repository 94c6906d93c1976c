// Typed errors of the injector: a stable `code` for tests and logs, and the HTTP status the webhook answers with.
import { HttpCodedError } from '../api/errors.ts';

export type InjectorErrorCode =
  | 'INVALID_WORKLOAD' // the object is not a well-formed workload (names the field)
  | 'BAD_YAML' // `mesh inject` input does not parse
  | 'BAD_REVIEW' // the webhook body is not a usable AdmissionReview (400)
  | 'BODY_TOO_LARGE' // the webhook body exceeds the limit (413)
  | 'BODY_INCOMPLETE' // the client went away before sending the whole body (400, usually unread)
  | 'UNSUPPORTED_MEDIA_TYPE' // the webhook body is not JSON (415)
  | 'NOT_FOUND' // no such webhook path (404)
  | 'METHOD_NOT_ALLOWED'; // the webhook path only takes POST (405)

const HTTP_STATUS: Record<InjectorErrorCode, number> = {
  INVALID_WORKLOAD: 422,
  BAD_YAML: 400,
  BAD_REVIEW: 400,
  BODY_TOO_LARGE: 413,
  BODY_INCOMPLETE: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
};

export class InjectorError extends HttpCodedError<InjectorErrorCode> {
  override readonly name = 'InjectorError';
  protected get statuses(): Readonly<Record<InjectorErrorCode, number>> {
    return HTTP_STATUS;
  }
}
