// Service-account tokens: a compact JWT signed with Ed25519 by the control plane, and the
// TokenValidator interface the CA checks them through (a Kubernetes TokenReview could replace it).
import { CodedError } from '../api/errors.ts';
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** The audience the CA accepts; Linkerd's projected tokens use `identity.l5d.io`. */
export const TOKEN_AUDIENCE = 'identity.mesh';
export const TOKEN_ISSUER = 'mesh-identity';

export type TokenErrorCode = 'MALFORMED' | 'FORGED' | 'EXPIRED' | 'WRONG_AUDIENCE';

export class TokenError extends CodedError<TokenErrorCode> {
  override readonly name = 'TokenError';
}

export interface TokenSubject {
  namespace: string;
  serviceAccount: string;
}

/** What the CA needs from any proof of a service account. */
export interface TokenValidator {
  validate(token: string): Promise<TokenSubject>;
}

/** The claims of a mesh token (Kubernetes-like `sub`, plus the two names spelled out). */
interface Claims {
  iss: string;
  sub: string;
  aud: string;
  ns: string;
  sa: string;
  iat: number;
  exp: number;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' })).toString('base64url');
const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export function mintToken(
  signingKeyPem: string,
  subject: TokenSubject,
  options: { ttlMs?: number; nowMs?: number; audience?: string } = {},
): string {
  for (const [what, value] of [['namespace', subject.namespace], ['service account', subject.serviceAccount]] as const) {
    if (!NAME.test(value)) throw new TokenError('MALFORMED', `${what} "${value}" is not a Kubernetes name (lowercase letters, digits, '-', '.')`);
  }
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const claims: Claims = {
    iss: TOKEN_ISSUER,
    sub: `system:serviceaccount:${subject.namespace}:${subject.serviceAccount}`,
    aud: options.audience ?? TOKEN_AUDIENCE,
    ns: subject.namespace,
    sa: subject.serviceAccount,
    iat: now,
    exp: now + Math.floor((options.ttlMs ?? 24 * 3_600_000) / 1000),
  };
  const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign(null, Buffer.from(signingInput), createPrivateKey(signingKeyPem));
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Validates tokens signed by the control plane's Ed25519 key (the file `token-signing.pub`). */
export class Ed25519TokenValidator implements TokenValidator {
  private readonly publicKey: KeyObject;
  private readonly clockSkewSeconds: number;

  constructor(publicKeyPem: string, options: { clockSkewMs?: number } = {}) {
    this.publicKey = createPublicKey(publicKeyPem);
    if (this.publicKey.asymmetricKeyType !== 'ed25519') throw new Error(`token verification key is ${this.publicKey.asymmetricKeyType}, expected ed25519`);
    this.clockSkewSeconds = Math.floor((options.clockSkewMs ?? 20_000) / 1000);
  }

  async validate(token: string): Promise<TokenSubject> {
    const parts = token.trim().split('.');
    if (parts.length !== 3) throw new TokenError('MALFORMED', `token has ${parts.length} part(s), a JWT has 3 (header.payload.signature)`);
    const [header, payload, signature] = parts as [string, string, string];
    const head = decodeJson(header, 'header') as { alg?: unknown };
    if (head.alg !== 'EdDSA') throw new TokenError('FORGED', `token algorithm is ${JSON.stringify(head.alg)}, only EdDSA is accepted`);
    // Check the signature before believing a single claim.
    if (!verify(null, Buffer.from(`${header}.${payload}`), this.publicKey, Buffer.from(signature, 'base64url'))) {
      throw new TokenError('FORGED', 'token signature does not verify against the control plane token key');
    }
    const claims = decodeJson(payload, 'payload') as Partial<Claims>;
    if (claims.aud !== TOKEN_AUDIENCE) throw new TokenError('WRONG_AUDIENCE', `token audience is ${JSON.stringify(claims.aud)}, expected "${TOKEN_AUDIENCE}"`);
    if (typeof claims.exp !== 'number' || typeof claims.ns !== 'string' || typeof claims.sa !== 'string') {
      throw new TokenError('MALFORMED', 'token lacks one of the claims exp, ns, sa');
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp + this.clockSkewSeconds <= now) {
      throw new TokenError('EXPIRED', `token expired at ${new Date(claims.exp * 1000).toISOString()}`);
    }
    if (typeof claims.iat === 'number' && claims.iat - this.clockSkewSeconds > now) {
      throw new TokenError('MALFORMED', `token issued in the future (${new Date(claims.iat * 1000).toISOString()})`);
    }
    return { namespace: claims.ns, serviceAccount: claims.sa };
  }
}

function decodeJson(part: string, what: string): unknown {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null) throw new Error('not an object');
    return value;
  } catch (err) {
    throw new TokenError('MALFORMED', `token ${what} is not base64url JSON: ${(err as Error).message}`, { cause: err });
  }
}
