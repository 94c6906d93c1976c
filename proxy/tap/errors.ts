// Errors of the tap server: each turns into one gRPC status for the tapper.
import { CodedError } from '../../api/errors.ts';

export type TapErrorCode =
  | 'TAP_FORBIDDEN' // the caller is not the viz's identity (PERMISSION_DENIED)
  | 'TAP_TOO_MANY' // this proxy already serves its most concurrent taps (RESOURCE_EXHAUSTED)
  | 'TAP_BAD_MATCH'; // the request's filter is malformed (INVALID_ARGUMENT)

export class TapError extends CodedError<TapErrorCode> {
  override readonly name = 'TapError';
}
