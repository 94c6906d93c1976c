// The admin's `GET /identity`: who this proxy is, the certificate chain it presents now (public
// material only, never the key), the anchors it trusts, and its clock, so `mesh check` can tell
// whether the certificate is valid, chains to the current trust anchor, and the clocks agree.
import type { TlsCredentials } from '../identity/credentials.ts';

export interface IdentitySummary {
  /** This proxy's SPIFFE id; null when it runs without identity (plaintext). */
  identity: string | null;
  /** This proxy's clock when it answered (ISO 8601, milliseconds). */
  now: string;
  /** The chain it presents to peers (PEM, leaf first); null until the CA has issued one. */
  certificateChainPem: string | null;
  /** The anchors it checks peers' chains against (PEM). */
  trustAnchorsPem: string | null;
}

function pemOf(cert: unknown): string | null {
  if (typeof cert === 'string') return cert;
  if (Buffer.isBuffer(cert)) return cert.toString('utf8');
  if (Array.isArray(cert)) return cert.map(pemOf).join('');
  return null;
}

export function identitySummary(credentials: TlsCredentials | undefined, nowMs = Date.now()): IdentitySummary {
  if (!credentials) return { identity: null, now: new Date(nowMs).toISOString(), certificateChainPem: null, trustAnchorsPem: null };
  return {
    identity: credentials.identity,
    now: new Date(nowMs).toISOString(),
    certificateChainPem: credentials.isReady() ? pemOf(credentials.current().cert) : null,
    trustAnchorsPem: credentials.trustAnchorsPem,
  };
}
