// One gRPC service out of api/<name>.proto, loaded at run time (no codegen) and parsed once per
// process: the definition never changes, so sharing it holds no per-proxy state.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from './locate.ts';

export interface ServiceDefinition {
  service: grpc.ServiceDefinition;
  Client: grpc.ServiceClientConstructor;
}

const loaded = new Map<string, ServiceDefinition>();

/** The service `qualified` (`mesh.tap.v1.Tap`) of api/`file`.proto, read with proto-loader's `options`. */
export function protoService(file: 'identity' | 'tap', qualified: string, options: protoLoader.Options): ServiceDefinition {
  let found = loaded.get(qualified);
  if (!found) {
    let at: unknown = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath(file), options));
    for (const name of qualified.split('.')) at = (at as Record<string, unknown>)[name];
    const Client = at as grpc.ServiceClientConstructor;
    found = { service: Client.service, Client };
    loaded.set(qualified, found);
  }
  return found;
}
