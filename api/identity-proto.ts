// api/identity.proto's messages as TypeScript types, and the CA's identity: what the CA server
// (identity-service.ts) and the proxy's client (proxy/identity/client.ts) both speak.
import { CONTROL_PLANE_NAMESPACE, spiffeId } from './spiffe.ts';

/** The Certify request and response as proto-loader hands them over (camelCase, int64 as Number). */
export interface CertifyRequestMessage {
  identity: string;
  token: Buffer;
  certificateSigningRequest: Buffer;
}

export interface CertifyResponseMessage {
  leafCertificate: Buffer;
  intermediateCertificates: Buffer[];
  validUntilMs: number;
}

/** The CA's own SPIFFE id, which clients require on its serving certificate. */
export function caIdentityOf(trustDomain: string): string {
  return spiffeId(trustDomain, CONTROL_PLANE_NAMESPACE, 'identity');
}
