// Loads the demo's .proto files at run time (no code generation), as the mesh's own APIs do.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const protoDir = fileURLToPath(new URL('../proto/', import.meta.url));

const loaderOptions: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true };

export interface OrderMessage {
  id: string;
  item: string;
  quantity: number;
  amountCents: number;
  createdBy: string;
  servedBy: string;
  createdAt: string;
}

/**
 * A .proto file's services, as `Shape` (its `package` line's namespaces down to the services):
 * loaded at run time, so the shape is the caller's word for what the file declares.
 */
function load<Shape>(file: string): Shape {
  return grpc.loadPackageDefinition(protoLoader.loadSync(protoDir + file, loaderOptions)) as unknown as Shape;
}

export function ordersPackage(): { Orders: grpc.ServiceClientConstructor } {
  return load<{ orders: { v1: { Orders: grpc.ServiceClientConstructor } } }>('orders.proto').orders.v1;
}

export function healthPackage(): { Health: grpc.ServiceClientConstructor } {
  return load<{ grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }>('health.proto').grpc.health.v1;
}
