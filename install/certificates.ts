// The key material an install writes: the identity trust anchor and issuer (generated unless
// given with --set), and the webhook's serving certificate with the CA the API server trusts it by.
import { isIP } from 'node:net';
import { generateRsaKeyPair } from '../api/keypair.ts';
import forge from 'node-forge';
import { CertificateAuthority, CLOCK_SKEW_ALLOWANCE_MS } from '../identity/ca.ts';
import { buildAnchor, buildLeaf, wholeSeconds } from '../identity/x509-build.ts';
import { CONTROL_PLANE_NS } from './names.ts';
import type { InstallValues } from './values.ts';

export interface IdentityMaterial {
  trustAnchorsPem: string;
  /** Absent with an external issuer: something else writes its Secret. */
  issuer?: { crtPem: string; keyPem: string };
}

/** The anchors and issuer from the values, or a fresh pair as `linkerd install` makes when given none. */
export async function identityMaterial(v: InstallValues): Promise<IdentityMaterial> {
  const { crtPEM, keyPEM } = v.identity.issuer.tls;
  if (v.identity.issuer.scheme === 'kubernetes.io/tls') return { trustAnchorsPem: v.identityTrustAnchorsPEM! };
  if (v.identityTrustAnchorsPEM && crtPEM && keyPEM) return { trustAnchorsPem: v.identityTrustAnchorsPEM, issuer: { crtPem: crtPEM, keyPem: keyPEM } };
  const ca = await CertificateAuthority.generate({ trustDomain: v.identityTrustDomain });
  return { trustAnchorsPem: ca.material.trustAnchorsPem, issuer: { crtPem: ca.material.issuerChainPem, keyPem: ca.material.issuerKeyPem } };
}

export interface WebhookMaterial {
  /** What the MutatingWebhookConfiguration's caBundle holds. */
  caPem: string;
  /** The serving certificate (signed by the root) and its key. */
  certPem: string;
  keyPem: string;
}

const YEAR_MS = 8_760 * 3_600_000;

/**
 * A CA of its own for the webhook, as `linkerd install` makes one: a self-signed root (the
 * caBundle) and a leaf naming the injector's Service (the API server's name for it), plus the
 * host of `proxyInjector.url` when one is set. Two keys, not three: nothing else is signed by it.
 */
export async function webhookMaterial(v: InstallValues, serviceName: string): Promise<WebhookMaterial> {
  const [rootKeys, leafKeys] = await Promise.all([generateRsaKeyPair(), generateRsaKeyPair()]);
  const now = Date.now();
  const validity = { notBefore: wholeSeconds(now - CLOCK_SKEW_ALLOWANCE_MS), notAfter: wholeSeconds(now + YEAR_MS) };
  const root = buildAnchor(rootKeys.forgePublicKey, rootKeys.privateKey, `webhook.${serviceName}.${CONTROL_PLANE_NS}`, validity);
  const dnsNames = [`${serviceName}.${CONTROL_PLANE_NS}.svc`, `${serviceName}.${CONTROL_PLANE_NS}.svc.${v.clusterDomain}`];
  const ipAddresses: string[] = [];
  if (v.proxyInjector.url) {
    const host = new URL(v.proxyInjector.url).hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) ipAddresses.push(host);
    else dnsNames.push(host);
  }
  const names = { uri: `spiffe://${v.identityTrustDomain}/ns/${CONTROL_PLANE_NS}/sa/injector`, dnsNames, ipAddresses };
  const leaf = buildLeaf(leafKeys.forgePublicKey, names, validity, { cert: root, key: rootKeys.privateKey });
  return { caPem: forge.pki.certificateToPem(root), certPem: forge.pki.certificateToPem(leaf), keyPem: leafKeys.privateKeyPem };
}
