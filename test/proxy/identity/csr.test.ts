// The proxy's CSR: byte for byte what node-forge builds for the same key and identity (the CA's
// parser is forge's), accepted by the CA's own check, and readable by OpenSSL.
import { execFileSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateRsaKeys, type RsaKeys } from '../../../api/rsa-keys.ts';
import { nodeRsaSigner } from '../../../api/rsa-signer.ts';
import { verifyCsr } from '../../../identity/csr.ts';
import { createCsrDer } from '../../../proxy/identity/csr.ts';

/** How the proxy built its CSR with node-forge: the reference. */
function forgeCsrDer(identity: string, publicKeyPem: string, privateKey: KeyObject): Buffer {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  csr.setSubject([]);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: identity }] }] }]);
  csr.sign(nodeRsaSigner(privateKey), forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary');
}

let keys: RsaKeys;
beforeAll(async () => {
  keys = await generateRsaKeys();
});

describe('the proxy CSR', () => {
  // A short id, and one past 127 bytes (long-form DER lengths all the way up).
  const ids = ['spiffe://cluster.local/ns/production/sa/orders', `spiffe://cluster.local/ns/${'n'.repeat(63)}/sa/${'s'.repeat(100)}`];
  for (const identity of ids) {
    it(`is forge's CSR byte for byte, and the CA accepts it (${identity.length}-character id)`, () => {
      const der = createCsrDer(identity, keys.privateKey);
      expect(der.toString('hex')).toBe(forgeCsrDer(identity, keys.publicKeyPem, keys.privateKey).toString('hex'));
      const verified = verifyCsr(der);
      expect(verified.uris).toEqual([identity]);
    });
  }

  it('is read by OpenSSL, which checks its signature', () => {
    const identity = ids[0]!;
    const text = execFileSync('openssl', ['req', '-inform', 'DER', '-noout', '-verify', '-text'], { input: createCsrDer(identity, keys.privateKey), stdio: 'pipe' }).toString();
    expect(text).toContain(`URI:${identity}`);
    expect(text).toContain('sha256WithRSAEncryption');
  });
});
