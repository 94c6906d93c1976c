// Generates an RSA key pair with node:crypto alone (off the main thread): what a proxy needs for
// its own key, without the certificate-building library the control plane adds on top (keypair.ts).
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

export interface RsaKeys {
  privateKey: KeyObject;
  /** PKCS#8 PEM, what node:tls takes as `key`. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
}

/** 2048 bits is what Linkerd's issuers use too; the CA refuses fewer. */
export async function generateRsaKeys(bits = 2048): Promise<RsaKeys> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  return { privateKey, privateKeyPem, publicKeyPem };
}
