// Test PKI for every engineer's tests: a trust anchor and issuer, and TlsCredentials for any identity.
// Keys are real RSA keys and certificates are real X.509 chains, so TLS refusals in tests are real.
import forge from 'node-forge';
import { CertificateAuthority } from '../../identity/ca.ts';
import { generateRsaKeyPair, type RsaKeyPair } from '../../api/keypair.ts';
import { StaticCredentials } from '../../proxy/identity/static-credentials.ts';
import { spiffeId } from '../../api/spiffe.ts';

export interface CredentialsOptions {
  /** Certificate lifetime (default 24 h). */
  lifetimeMs?: number;
  /** Issue as if the clock read this; with a short lifetime, yields an expired certificate. */
  nowMs?: number;
  /** Extra SANs, e.g. `['localhost']` for a plain TLS server a non-mesh client checks by name. */
  dnsNames?: string[];
  ipAddresses?: string[];
}

export interface TestPki {
  trustDomain: string;
  /** The anchor PEM peers must chain to. */
  anchorPem: string;
  ca: CertificateAuthority;
  /** TlsCredentials for `identity` (a SPIFFE id), or for `ns/sa` shorthand: `'production/orders'`. */
  credentialsFor(identity: string, options?: CredentialsOptions): Promise<StaticCredentials>;
  /** Credentials whose certificate expired an hour ago (same anchor). */
  expiredCredentialsFor(identity: string): Promise<StaticCredentials>;
  /** Re-issues a certificate for `creds` (same key): use with `creds.replace` to exercise rotation. */
  renew(creds: StaticCredentials, options?: CredentialsOptions): Promise<void>;
}

/** Key generation dominates; share a few keys across a test file (each certificate still differs). */
const keyPool: Promise<RsaKeyPair>[] = [];
let nextKey = 0;
function pooledKey(): Promise<RsaKeyPair> {
  if (keyPool.length < 4) keyPool.push(generateRsaKeyPair());
  return keyPool[nextKey++ % keyPool.length]!;
}

/**
 * The SPIFFE id of service account `sa` in namespace production under the test PKI's default trust
 * domain, spelled out here (not built by the code under test), as a peer sees it.
 */
export const productionId = (sa: string): string => `spiffe://cluster.local/ns/production/sa/${sa}`;

function resolveIdentity(trustDomain: string, identity: string): string {
  if (identity.startsWith('spiffe://')) return identity;
  const [ns, sa] = identity.split('/');
  if (!ns || !sa) throw new Error(`testPki: "${identity}" is neither a SPIFFE id nor "namespace/serviceaccount"`);
  return spiffeId(trustDomain, ns, sa);
}

/**
 * `await testPki()` builds a fresh anchor + issuer (about a quarter of a second). Call it twice for
 * two unrelated anchors: credentials from one are refused by peers that trust only the other.
 */
export async function testPki(options: { trustDomain?: string } = {}): Promise<TestPki> {
  const trustDomain = options.trustDomain ?? 'cluster.local';
  const ca = await CertificateAuthority.generate({ trustDomain });
  const anchorPem = ca.material.trustAnchorsPem;
  const keysOf = new WeakMap<StaticCredentials, RsaKeyPair>();

  const issueFor = (keys: RsaKeyPair, identity: string, o: CredentialsOptions) => {
    const issued = ca.issue(keys.forgePublicKey as forge.pki.PublicKey, { uri: identity, dnsNames: o.dnsNames, ipAddresses: o.ipAddresses }, o);
    return { keyPem: keys.privateKeyPem, certChainPem: [issued.leafPem, ...issued.intermediatesPem].join('') };
  };

  const credentialsFor = async (id: string, o: CredentialsOptions = {}): Promise<StaticCredentials> => {
    const identity = resolveIdentity(trustDomain, id);
    const keys = await pooledKey();
    const creds = new StaticCredentials(identity, anchorPem, issueFor(keys, identity, o));
    keysOf.set(creds, keys);
    return creds;
  };

  return {
    trustDomain,
    anchorPem,
    ca,
    credentialsFor,
    expiredCredentialsFor: (id) => credentialsFor(id, { nowMs: Date.now() - 2 * 3_600_000, lifetimeMs: 3_600_000 }),
    renew: async (creds, o = {}) => {
      const keys = keysOf.get(creds);
      if (!keys) throw new Error('testPki.renew: these credentials were not made by this testPki');
      creds.replace(issueFor(keys, creds.identity, o));
    },
  };
}
