// Loads api/destination.proto at runtime (no codegen) for grpc-js: the destination server, the viz
// and the CLI. The proxy reads the same file with protobufjs alone (proto-codec.ts), into the same shapes.
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
