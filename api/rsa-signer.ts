// Lets node-forge build certificates and CSRs while node:crypto does the RSA signing,
// which is about 100 times faster than forge's JavaScript big numbers (2,500 against 20 signatures/s here).
import { constants, privateEncrypt, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/**
 * What forge's `cert.sign(key)` / `csr.sign(key)` call: `key.sign(md)` returning the raw
 * signature as a binary string. RSASSA-PKCS1-v1_5 is the RSA private operation over the
 * DER DigestInfo of the digest, which `privateEncrypt` with PKCS#1 padding computes.
 */
export function nodeRsaSigner(privateKey: KeyObject): forge.pki.rsa.PrivateKey {
  const sign = (md: forge.md.MessageDigest): string => {
    const digestInfo = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, [
      forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, [
        forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OID, false, forge.asn1.oidToDer(forge.pki.oids.sha256!).getBytes()),
        forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.NULL, false, ''),
      ]),
      forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, md.digest().getBytes()),
    ]);
    const der = Buffer.from(forge.asn1.toDer(digestInfo).getBytes(), 'binary');
    return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, der).toString('binary');
  };
  // forge only ever calls sign() on the object it is given; the cast keeps its types happy.
  return { sign } as unknown as forge.pki.rsa.PrivateKey;
}
