// Typed errors of `mesh install`: a stable `code` for tests, a message naming the key or field.
import { CodedError } from '../api/errors.ts';

export type InstallErrorCode =
  | 'UNKNOWN_KEY' // `--set` names a key install does not have
  | 'BAD_VALUE' // `--set` gives a key a value of the wrong shape
  | 'BAD_SET'; // the settings disagree as a whole (an issuer without its anchor, a key that is not the certificate's)

export class InstallError extends CodedError<InstallErrorCode> {
  override readonly name = 'InstallError';
}
