// Builds the three kinds of certificate the mesh uses (anchor, issuer, workload) with node-forge.
import { randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { nodeRsaSigner } from '../api/rsa-signer.ts';

/** Who signs: the issuing certificate (for names and key id) and its private key. */
export interface Signer {
  cert: forge.pki.Certificate;
  key: KeyObject;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** A positive 127-bit random serial: unique without a counter shared between CA replicas. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // DER INTEGER must stay positive
  if (bytes[0] === 0) bytes[0] = 1; // and minimal (no leading zero byte)
  return bytes.toString('hex');
}

/** X.509 times have one-second resolution; truncate so what we report equals what is signed. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function keyIdOf(cert: forge.pki.Certificate): string {
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  return ski?.subjectKeyIdentifier
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : cert.generateSubjectKeyIdentifier().getBytes();
}

function base(publicKey: forge.pki.PublicKey, validity: Validity): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  return cert;
}

/** The self-signed root every proxy trusts. */
export function buildAnchor(publicKey: forge.pki.PublicKey, key: KeyObject, commonName: string, validity: Validity): forge.pki.Certificate {
  const cert = base(publicKey, validity);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(nodeRsaSigner(key), forge.md.sha256.create());
  return cert;
}

/** The intermediate that signs workload certificates; path length 0, so it cannot mint CAs. */
export function buildIssuer(publicKey: forge.pki.PublicKey, commonName: string, validity: Validity, signer: Signer): forge.pki.Certificate {
  const cert = base(publicKey, validity);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(signer.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: keyIdOf(signer.cert) },
  ]);
  cert.sign(nodeRsaSigner(signer.key), forge.md.sha256.create());
  return cert;
}

export interface LeafNames {
  /** SPIFFE id, the URI SAN every peer checks. */
  uri: string;
  dnsNames?: string[];
  ipAddresses?: string[];
}

/**
 * A workload certificate: TLS server and client, the identity in the URI SAN only. The subject
 * is empty (SPIFFE X.509-SVID style), so the SAN extension is critical as RFC 5280 4.2.1.6 asks.
 */
export function buildLeaf(publicKey: forge.pki.PublicKey, names: LeafNames, validity: Validity, signer: Signer): forge.pki.Certificate {
  const cert = base(publicKey, validity);
  cert.setSubject([]);
  cert.setIssuer(signer.cert.subject.attributes);
  const altNames: Array<{ type: number; value?: string; ip?: string }> = [{ type: 6, value: names.uri }];
  for (const dns of names.dnsNames ?? []) altNames.push({ type: 2, value: dns });
  for (const ip of names.ipAddresses ?? []) altNames.push({ type: 7, ip });
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: keyIdOf(signer.cert) },
  ]);
  cert.sign(nodeRsaSigner(signer.key), forge.md.sha256.create());
  return cert;
}
