// Kubernetes mode: a proxy's projected service-account token is proven by the API server itself,
// with a TokenReview for audience identity.l5d.io (as Linkerd's identity does). The answer says who
// the token belongs to; a refusal is explained from the token's own claims where they tell why.
import type { KubeApi } from '../api/kubernetes/kube-api.ts';
import { TokenError, type TokenSubject, type TokenValidator } from './token.ts';

/** The audience the injector asks the kubelet to put in every proxy's projected token. */
export const KUBERNETES_TOKEN_AUDIENCE = 'identity.l5d.io';

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string };
  audiences?: string[];
  error?: string;
}

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

export class TokenReviewValidator implements TokenValidator {
  constructor(
    private readonly api: KubeApi,
    private readonly audience = KUBERNETES_TOKEN_AUDIENCE,
  ) {}

  async validate(token: string): Promise<TokenSubject> {
    const review = await this.api.json<{ status?: TokenReviewStatus }>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      { verb: 'create', resource: 'tokenreviews', group: 'authentication.k8s.io' },
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: token.trim(), audiences: [this.audience] } },
    );
    const status = review.status ?? {};
    if (!status.authenticated) throw refusal(token, this.audience, status.error);
    if (!(status.audiences ?? []).includes(this.audience)) {
      throw new TokenError('WRONG_AUDIENCE', `the API server authenticated the token for audiences ${JSON.stringify(status.audiences ?? [])}, not "${this.audience}"`);
    }
    const m = SERVICE_ACCOUNT_USER.exec(status.user?.username ?? '');
    if (!m) throw new TokenError('MALFORMED', `the token belongs to "${status.user?.username ?? '?'}", not a service account`);
    return { namespace: m[1]!, serviceAccount: m[3]! };
  }
}

/**
 * Why the API server refused: its own error says little ("invalid bearer token"), so the token's
 * claims (read, never trusted: the server already refused it) tell an expired token or another audience apart.
 */
function refusal(token: string, audience: string, serverError = 'not authenticated'): TokenError {
  let claims: { aud?: unknown; exp?: unknown } = {};
  try {
    claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return new TokenError('MALFORMED', `the API server refused the token (${serverError}); it is not a JWT`);
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) {
    return new TokenError('EXPIRED', `token expired at ${new Date(claims.exp * 1000).toISOString()} (API server: ${serverError})`);
  }
  if (!audiences.includes(audience)) {
    return new TokenError('WRONG_AUDIENCE', `token audience is ${JSON.stringify(claims.aud)}, expected "${audience}" (API server: ${serverError})`);
  }
  return new TokenError('FORGED', `the API server refused the token: ${serverError}`);
}
