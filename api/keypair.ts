// Generates the RSA key pairs of the mesh: node:crypto does it off the main thread, forge gets the public half.
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generate = promisify(generateKeyPair);

export interface RsaKeyPair {
  privateKey: KeyObject;
  /** PKCS#8 PEM, what node:tls takes as `key`. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
  /** The same public key as forge needs it to build a certificate or CSR. */
  forgePublicKey: forge.pki.rsa.PublicKey;
}

/** node-forge builds RSA certificates only (DESIGN.md); 2048 bits is what Linkerd's issuers use too. */
export async function generateRsaKeyPair(bits = 2048): Promise<RsaKeyPair> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  return { privateKey, privateKeyPem, publicKeyPem, forgePublicKey: forge.pki.publicKeyFromPem(publicKeyPem) as forge.pki.rsa.PublicKey };
}
