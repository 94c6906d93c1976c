// Which parser reads which kind: the kinds this destination understands, by API group.
import { Fields } from '../field-reader.ts';
import type { Resource } from '../resources.ts';
import { parseEndpointSlice } from './endpoint-slice.ts';
import { parseAuthorizationPolicy, parseMeshTLSAuthentication, parseNetworkAuthentication, parseServerAuthorization } from './authorization.ts';
import { parseGrpcRoute } from './grpc-route.ts';
import { parseHttpRoute } from './http-route.ts';
import type { ParseContext } from './meta.ts';
import { parsePod } from './pod.ts';
import { parseServer } from './server.ts';
import { parseService } from './service.ts';
import { parseServiceProfile } from './service-profile.ts';

export type { ParseContext } from './meta.ts';

const PARSERS: Record<string, (doc: Fields, ctx: ParseContext) => Resource> = {
  Service: parseService,
  ServiceProfile: parseServiceProfile,
  HTTPRoute: parseHttpRoute,
  GRPCRoute: parseGrpcRoute,
  Server: parseServer,
  ServerAuthorization: parseServerAuthorization,
  AuthorizationPolicy: parseAuthorizationPolicy,
  MeshTLSAuthentication: parseMeshTLSAuthentication,
  NetworkAuthentication: parseNetworkAuthentication,
};

/** Kinds that are legal Kubernetes but carry nothing for the proxies (a Namespace, a Deployment). */
export const IGNORED_KINDS = new Set(['Namespace', 'ServiceAccount', 'Deployment', 'Pod', 'ConfigMap', 'Secret', 'Endpoints', 'EndpointSlice']);

/**
 * `pods`: development mode and Kubernetes mode, where Pods stand for registrations;
 * `endpointSlices`: Kubernetes mode, where the controller-manager's EndpointSlices are a Service's endpoints.
 */
export function parserFor(kind: string, read: { pods?: boolean; endpointSlices?: boolean } = {}): ((doc: Fields, ctx: ParseContext) => Resource) | undefined {
  if (kind === 'Pod' && read.pods) return parsePod;
  if (kind === 'EndpointSlice' && read.endpointSlices) return parseEndpointSlice;
  return Object.hasOwn(PARSERS, kind) ? PARSERS[kind] : undefined;
}

export const SUPPORTED_KINDS = Object.keys(PARSERS);
