// Generates the RSA key pairs of the mesh's certificate builders: node:crypto makes the pair (rsa-keys.ts), forge gets the public half.
import forge from 'node-forge';
import { generateRsaKeys, type RsaKeys } from './rsa-keys.ts';

export interface RsaKeyPair extends RsaKeys {
  /** The same public key as forge needs it to build a certificate. */
  forgePublicKey: forge.pki.rsa.PublicKey;
}

/** node-forge builds RSA certificates only (DESIGN.md); 2048 bits is what Linkerd's issuers use too. */
export async function generateRsaKeyPair(bits = 2048): Promise<RsaKeyPair> {
  const keys = await generateRsaKeys(bits);
  return { ...keys, forgePublicKey: forge.pki.publicKeyFromPem(keys.publicKeyPem) as forge.pki.rsa.PublicKey };
}
