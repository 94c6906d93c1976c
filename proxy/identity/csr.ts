// Builds the proxy's CSR: its public key and SPIFFE id, signed with the key that never leaves the proxy.
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { nodeRsaSigner } from '../../api/rsa-signer.ts';

/** DER PKCS#10 with the identity as the URI SAN (in an extensionRequest attribute) and an empty subject. */
export function createCsrDer(identity: string, publicKey: forge.pki.PublicKey, privateKey: KeyObject): Buffer {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = publicKey;
  csr.setSubject([]);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: identity }] }] }]);
  csr.sign(nodeRsaSigner(privateKey), forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary');
}
