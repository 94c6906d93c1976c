// api/identity.proto's service loaded at run time (no codegen) with grpc-js: for the CA server and
// the tools that call it from outside a proxy (tests, benches). The proxy has its own client.
import { protoService, type ServiceDefinition } from './proto-service.ts';

export type IdentityServiceDefinition = ServiceDefinition;

export function identityService(): IdentityServiceDefinition {
  return protoService('identity', 'mesh.identity.v1.Identity', { longs: Number, defaults: true, keepCase: false });
}
