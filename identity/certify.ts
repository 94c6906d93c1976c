// The Certify decision, apart from gRPC: who is asking (token), for what (identity, CSR), and the certificate.
import { parseSpiffeId, spiffeId } from '../api/spiffe.ts';
import type { CertificateAuthority, IssuedCertificate } from './ca.ts';
import { CsrError, verifyCsr, type CsrErrorCode } from './csr.ts';
import { TokenError, type TokenErrorCode, type TokenValidator } from './token.ts';
import { CodedError } from '../api/errors.ts';

/** gRPC status names; the server maps them to numbers. */
export type RefusalStatus = 'INVALID_ARGUMENT' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED';

/** Why a CSR was refused: a stable code for logs and tests (a token's or CSR's own code when they refused). */
export type CertifyRefusalCode = 'BAD_IDENTITY' | 'WRONG_TRUST_DOMAIN' | 'IDENTITY_MISMATCH' | 'CSR_IDENTITY_MISMATCH' | `TOKEN_${TokenErrorCode}` | CsrErrorCode;

export class CertifyRefusal extends CodedError<CertifyRefusalCode> {
  override readonly name = 'CertifyRefusal';

  constructor(
    readonly status: RefusalStatus,
    code: CertifyRefusalCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

export interface CertifyInput {
  identity: string;
  token: string;
  csrDer: Uint8Array;
}

export interface CertifyPolicy {
  ca: CertificateAuthority;
  tokens: TokenValidator;
  trustDomain: string;
  lifetimeMs: number;
}

/** Checks everything, in the order that gives the caller the most useful refusal, then issues. */
export async function certify(input: CertifyInput, policy: CertifyPolicy): Promise<IssuedCertificate> {
  const requested = parseSpiffeId(input.identity);
  if (!requested) {
    throw new CertifyRefusal('INVALID_ARGUMENT', 'BAD_IDENTITY', `identity "${input.identity}" is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>`);
  }
  if (requested.trustDomain !== policy.trustDomain) {
    throw new CertifyRefusal('PERMISSION_DENIED', 'WRONG_TRUST_DOMAIN', `identity "${input.identity}" is outside this CA's trust domain "${policy.trustDomain}"`);
  }
  let subject;
  try {
    subject = await policy.tokens.validate(input.token);
  } catch (err) {
    if (err instanceof TokenError) throw new CertifyRefusal('UNAUTHENTICATED', `TOKEN_${err.code}`, `token refused (${err.code}): ${err.message}`, { cause: err });
    throw err;
  }
  const tokenIdentity = spiffeId(policy.trustDomain, subject.namespace, subject.serviceAccount);
  if (tokenIdentity !== input.identity) {
    throw new CertifyRefusal('PERMISSION_DENIED', 'IDENTITY_MISMATCH', `requested identity "${input.identity}" but the token proves "${tokenIdentity}"`);
  }
  let csr;
  try {
    csr = verifyCsr(input.csrDer);
  } catch (err) {
    if (err instanceof CsrError) throw new CertifyRefusal('INVALID_ARGUMENT', err.code, err.message, { cause: err });
    throw err;
  }
  if (csr.uris.length !== 1 || csr.uris[0] !== input.identity) {
    throw new CertifyRefusal(
      'PERMISSION_DENIED',
      'CSR_IDENTITY_MISMATCH',
      `CSR asks for URI SAN ${csr.uris.length ? csr.uris.map((u) => `"${u}"`).join(', ') : '(none)'} but the token proves "${input.identity}"`,
    );
  }
  return policy.ca.issue(csr.publicKey, { uri: input.identity }, { lifetimeMs: policy.lifetimeMs });
}
