// Loads api/destination.proto at runtime (no codegen); shared by the destination server, the
// proxy's destination client and the CLI so all three speak the same messages.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from './locate.ts';

const PROTO_PATH = protoPath('destination');

export interface DestinationProto {
  Destination: grpc.ServiceClientConstructor;
  InboundPolicies: grpc.ServiceClientConstructor;
  Registration: grpc.ServiceClientConstructor;
  Pods: grpc.ServiceClientConstructor;
  Resources: grpc.ServiceClientConstructor;
}

let cached: DestinationProto | undefined;

/** The package's services; loaded once per process (the definitions never change at runtime). */
export function destinationProto(): DestinationProto {
  if (cached) return cached;
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { mesh: { destination: { v1: DestinationProto } } };
  cached = loaded.mesh.destination.v1;
  return cached;
}
