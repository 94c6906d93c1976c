// Loads api/identity.proto at runtime (no codegen) for the CA server and the proxy's client.
import { protoService, type ServiceDefinition } from './proto-service.ts';
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

export type IdentityServiceDefinition = ServiceDefinition;

export function identityService(): IdentityServiceDefinition {
  return protoService('identity', 'mesh.identity.v1.Identity', { longs: Number, defaults: true, keepCase: false });
}

/** The CA's own SPIFFE id, which clients require on its serving certificate. */
export function caIdentityOf(trustDomain: string): string {
  return spiffeId(trustDomain, CONTROL_PLANE_NAMESPACE, 'identity');
}
