// api/tap.proto's service loaded at run time (no codegen) with grpc-js: for the tap client (the
// viz) and tests. The proxy's tap server speaks the wire itself (proxy/tap/observe-call.ts).
import { protoService, type ServiceDefinition } from './proto-service.ts';

export type TapServiceDefinition = ServiceDefinition;

export function tapService(): TapServiceDefinition {
  return protoService('tap', 'mesh.tap.v1.Tap', { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
}
