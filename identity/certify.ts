// The Certify decision, apart from gRPC: who is asking (token), for what (identity, CSR), and the certificate.
import { parseSpiffeId, spiffeId } from '../api/spiffe.ts';
import type { CertificateAuthority, IssuedCertificate } from './ca.ts';
import { CsrError, verifyCsr } from './csr.ts';
import { TokenError, type TokenValidator } from './token.ts';

/** gRPC status names; the server maps them to numbers. `reason` is a stable code for logs and tests. */
export type RefusalStatus = 'INVALID_ARGUMENT' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED';

export class CertifyRefusal extends Error {
  override readonly name = 'CertifyRefusal';
  readonly status: RefusalStatus;
  readonly reason: string;

  constructor(status: RefusalStatus, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
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
    if (err instanceof TokenError) throw new CertifyRefusal('UNAUTHENTICATED', `TOKEN_${err.code}`, `token refused (${err.code}): ${err.message}`);
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
    if (err instanceof CsrError) throw new CertifyRefusal('INVALID_ARGUMENT', err.code, err.message);
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
