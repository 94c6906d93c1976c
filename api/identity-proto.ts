// Loads api/identity.proto at runtime (no codegen) for the CA server and the proxy's client.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from './locate.ts';
import { CONTROL_PLANE_NAMESPACE, spiffeId } from './spiffe.ts';

const PROTO = protoPath('identity');

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

export interface IdentityServiceDefinition {
  service: grpc.ServiceDefinition;
  Client: grpc.ServiceClientConstructor;
}

let loaded: IdentityServiceDefinition | undefined;

/** Parsed once per process: the definition is immutable, so sharing it holds no per-proxy state. */
export function identityService(): IdentityServiceDefinition {
  if (!loaded) {
    const definition = protoLoader.loadSync(PROTO, { longs: Number, defaults: true, keepCase: false });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { mesh: { identity: { v1: { Identity: grpc.ServiceClientConstructor } } } };
    const Client = pkg.mesh.identity.v1.Identity;
    loaded = { service: Client.service, Client };
  }
  return loaded;
}

/** The CA's own SPIFFE id, which clients require on its serving certificate. */
export function caIdentityOf(trustDomain: string): string {
  return spiffeId(trustDomain, CONTROL_PLANE_NAMESPACE, 'identity');
}
