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

type Loaded = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(file: string): Loaded {
  return grpc.loadPackageDefinition(protoLoader.loadSync(protoDir + file, loaderOptions)) as Loaded;
}

export function ordersPackage(): { Orders: grpc.ServiceClientConstructor } {
  return load('orders.proto').orders.v1;
}

export function healthPackage(): { Health: grpc.ServiceClientConstructor } {
  return load('health.proto').grpc.health.v1;
}
