// Checks the CA's key material before it serves: a CA that starts with a bad chain would hand
// out certificates no peer accepts, so every problem is refused here with the file it is in.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { IdentityError } from './errors.ts';

/** Where each piece came from, so messages name the operator's file. */
export interface MaterialSources {
  trustAnchors: string;
  issuerCert: string;
  issuerKey: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPemCertificates(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new IdentityError('MALFORMED', `${source}: no PEM certificate found ("-----BEGIN CERTIFICATE-----")`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new IdentityError('MALFORMED', `${source}: certificate #${i + 1} cannot be parsed: ${(err as Error).message}`, { cause: err });
    }
  });
}

export function parsePrivateKey(pem: string, source: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') {
      throw new IdentityError('MALFORMED', `${source}: a ${key.asymmetricKeyType} key; the CA signs with RSA only (node-forge)`);
    }
    return key;
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw new IdentityError('MALFORMED', `${source}: not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
}

function describe(cert: X509Certificate): string {
  // Node reports an empty subject (workload certificates have one) as undefined.
  const name = (cert.subject as string | undefined)?.replaceAll('\n', ', ') || cert.subjectAltName || '(no name)';
  return `"${name}" (serial ${cert.serialNumber})`;
}

function checkTimes(cert: X509Certificate, source: string, nowMs: number): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (to <= nowMs) throw new IdentityError('EXPIRED', `${source}: ${describe(cert)} expired at ${new Date(to).toISOString()}`);
  if (from > nowMs) throw new IdentityError('EXPIRED', `${source}: ${describe(cert)} is not valid until ${new Date(from).toISOString()}`);
}

/**
 * The issuer chain (issuer first, then any intermediates) must each be signed by the next and
 * the last by one of the anchors; every certificate must be a CA in its validity period; and the
 * key must be the issuer's. Returns the parsed pieces.
 */
export function validateCaMaterial(
  pems: { trustAnchorsPem: string; issuerChainPem: string; issuerKeyPem: string },
  sources: MaterialSources,
  nowMs = Date.now(),
): { anchors: X509Certificate[]; chain: X509Certificate[]; key: KeyObject } {
  const anchors = splitPemCertificates(pems.trustAnchorsPem, sources.trustAnchors);
  const chain = splitPemCertificates(pems.issuerChainPem, sources.issuerCert);
  const key = parsePrivateKey(pems.issuerKeyPem, sources.issuerKey);
  for (const anchor of anchors) {
    checkTimes(anchor, sources.trustAnchors, nowMs);
    if (!anchor.ca) throw new IdentityError('MISMATCH', `${sources.trustAnchors}: ${describe(anchor)} is not a CA certificate (basicConstraints CA:FALSE)`);
  }
  chain.forEach((cert, i) => {
    const where = i === 0 ? sources.issuerCert : `${sources.issuerCert} (certificate #${i + 1})`;
    checkTimes(cert, where, nowMs);
    if (!cert.ca) throw new IdentityError('MISMATCH', `${where}: ${describe(cert)} is not a CA certificate, so it cannot issue`);
    const parent = chain[i + 1];
    if (parent) {
      if (!cert.verify(parent.publicKey)) {
        throw new IdentityError('MISMATCH', `${where}: ${describe(cert)} is not signed by the next certificate in the file, ${describe(parent)}`);
      }
    } else if (!anchors.some((anchor) => cert.checkIssued(anchor) && cert.verify(anchor.publicKey))) {
      throw new IdentityError(
        'MISMATCH',
        `${where}: ${describe(cert)} is not signed by any trust anchor in ${sources.trustAnchors} (${anchors.map(describe).join('; ')})`,
      );
    }
  });
  if (!chain[0]!.checkPrivateKey(key)) {
    throw new IdentityError('MISMATCH', `${sources.issuerKey}: the key does not match the issuer certificate ${describe(chain[0]!)} in ${sources.issuerCert}`);
  }
  return { anchors, chain, key };
}
