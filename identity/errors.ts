// Typed errors of the certificate authority: loading its key material, and refusing requests.
import { CodedError } from '../api/errors.ts';

/**
 * Stable codes, matched by tests and the CLI:
 * - loading: UNREADABLE (file missing or unreadable), MALFORMED (not PEM / not a certificate or key),
 *   EXPIRED (anchor or issuer outside its validity), MISMATCH (issuer not signed by the anchor, key
 *   not matching the certificate, issuer not a CA), EXISTS (init would overwrite files);
 * - options: INVALID_ARGUMENT.
 */
export type IdentityErrorCode = 'UNREADABLE' | 'MALFORMED' | 'EXPIRED' | 'MISMATCH' | 'EXISTS' | 'INVALID_ARGUMENT';

export class IdentityError extends CodedError<IdentityErrorCode> {
  override readonly name = 'IdentityError';
}
