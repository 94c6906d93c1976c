// Reads a proxy's PKCS#10 CSR from DER and proves it: parseable, RSA of at least 2048 bits, self-signature valid, one SPIFFE URI SAN.
import { CodedError } from '../api/errors.ts';
import forge from 'node-forge';

export type CsrErrorCode = 'MALFORMED_CSR' | 'BAD_CSR_SIGNATURE' | 'WEAK_CSR_KEY';

/** Below this an RSA key can be factored; the CA must not vouch for it. Proxies make 2048-bit keys. */
export const MIN_RSA_BITS = 2048;

export class CsrError extends CodedError<CsrErrorCode> {
  override readonly name = 'CsrError';
}

export interface VerifiedCsr {
  publicKey: forge.pki.PublicKey;
  /** The URI SANs the CSR asks for (the CA requires exactly the token's identity). */
  uris: string[];
}

export function verifyCsr(der: Uint8Array): VerifiedCsr {
  if (der.length === 0) throw new CsrError('MALFORMED_CSR', 'certificate_signing_request is empty');
  let csr: forge.pki.CertificateSigningRequest;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary')), true);
    csr = forge.pki.certificationRequestFromAsn1(asn1, true);
  } catch (err) {
    throw new CsrError('MALFORMED_CSR', `certificate_signing_request is not a DER PKCS#10 RSA CSR: ${(err as Error).message}`, { cause: err });
  }
  // forge's computeHash=true lets verify() recompute the hash over the info the signature covers.
  let signed = false;
  try {
    signed = csr.verify();
  } catch (err) {
    throw new CsrError('BAD_CSR_SIGNATURE', `CSR signature cannot be checked: ${(err as Error).message}`, { cause: err });
  }
  if (!signed) throw new CsrError('BAD_CSR_SIGNATURE', 'CSR signature does not verify with the public key it carries (the requester does not hold that key)');
  const bits = (csr.publicKey as forge.pki.rsa.PublicKey).n.bitLength();
  if (bits < MIN_RSA_BITS) throw new CsrError('WEAK_CSR_KEY', `CSR key is RSA ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  const request = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: Array<{ name?: string; altNames?: Array<{ type: number; value: string }> }> } | null;
  const san = request?.extensions?.find((e) => e.name === 'subjectAltName');
  const uris = (san?.altNames ?? []).filter((n) => n.type === 6).map((n) => n.value);
  return { publicKey: csr.publicKey!, uris };
}
