// Messages and methods of api/<name>.proto as bytes and back, with protobufjs alone: what the
// proxy's own gRPC client and tap server use, so a proxy loads neither @grpc/grpc-js nor
// @grpc/proto-loader. The objects are the ones proto-loader hands over (camelCase names, int64 as
// Number, enums as their names, every field present with its default, a oneof's chosen field
// named), so both sides of a contract read the same shapes whichever library decoded them.
import protobuf from 'protobufjs';
import { protoPath } from './locate.ts';

type ProtoFile = 'identity' | 'destination' | 'tap';

export interface MessageCodec<T> {
  encode(message: T): Buffer;
  decode(bytes: Uint8Array): T;
}

/** One method of a service: its path on the wire and its messages' codecs. */
export interface GrpcMethod<Req, Res> {
  /** `/mesh.destination.v1.Destination/GetEndpoints` */
  path: string;
  request: MessageCodec<Req>;
  response: MessageCodec<Res>;
}

/** proto-loader's conversions, as the mesh's callers configure it (api/destination-proto.ts). */
const AS_PROTO_LOADER: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };

const roots = new Map<ProtoFile, protobuf.Root>();

/** The file's types, parsed once per process (protobufjs turns snake_case field names into camelCase). */
function root(file: ProtoFile): protobuf.Root {
  let found = roots.get(file);
  if (!found) {
    found = protobuf.loadSync(protoPath(file));
    found.resolveAll();
    roots.set(file, found);
  }
  return found;
}

function codecOf<T>(type: protobuf.Type): MessageCodec<T> {
  return {
    // fromObject first, as proto-loader's serializer: it takes enum names and plain nested objects.
    encode: (message) => type.encode(type.fromObject(message as object)).finish() as Buffer,
    decode: (bytes) => type.toObject(type.decode(bytes), AS_PROTO_LOADER) as T,
  };
}

/** Message `qualified` of api/`file`.proto as protobufjs's Type, for an encoder of its own (tap-encode.ts). */
export function protoType(file: ProtoFile, qualified: string): protobuf.Type {
  return root(file).lookupType(qualified);
}

/** The codec of message `qualified` (`mesh.tap.v1.ObserveRequest`) of api/`file`.proto. */
export function messageCodec<T>(file: ProtoFile, qualified: string): MessageCodec<T> {
  return codecOf<T>(root(file).lookupType(qualified));
}

/** Method `name` of service `service` (`mesh.identity.v1.Identity`) of api/`file`.proto. */
export function grpcMethod<Req, Res>(file: ProtoFile, service: string, name: string): GrpcMethod<Req, Res> {
  const method = root(file).lookupService(service).methods[name];
  if (!method) throw new Error(`api/${file}.proto: service ${service} has no method ${name}`);
  return { path: `/${service}/${name}`, request: codecOf<Req>(method.resolvedRequestType!), response: codecOf<Res>(method.resolvedResponseType!) };
}
