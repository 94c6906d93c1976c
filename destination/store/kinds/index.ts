// Which parser reads which kind: the kinds this destination understands, by API group.
import { Fields } from '../field-reader.ts';
import type { Resource } from '../resources.ts';
import { parseAuthorizationPolicy, parseMeshTLSAuthentication, parseNetworkAuthentication, parseServerAuthorization } from './authorization.ts';
import { parseHttpRoute } from './http-route.ts';
import type { ParseContext } from './meta.ts';
import { parseServer } from './server.ts';
import { parseService } from './service.ts';
import { parseServiceProfile } from './service-profile.ts';

export type { ParseContext } from './meta.ts';

const PARSERS: Record<string, (doc: Fields, ctx: ParseContext) => Resource> = {
  Service: parseService,
  ServiceProfile: parseServiceProfile,
  HTTPRoute: parseHttpRoute,
  Server: parseServer,
  ServerAuthorization: parseServerAuthorization,
  AuthorizationPolicy: parseAuthorizationPolicy,
  MeshTLSAuthentication: parseMeshTLSAuthentication,
  NetworkAuthentication: parseNetworkAuthentication,
};

/** Kinds that are legal Kubernetes but carry nothing for the proxies (a Namespace, a Deployment). */
export const IGNORED_KINDS = new Set(['Namespace', 'ServiceAccount', 'Deployment', 'Pod', 'ConfigMap', 'Secret', 'Endpoints', 'EndpointSlice']);

export function parserFor(kind: string): ((doc: Fields, ctx: ParseContext) => Resource) | undefined {
  return Object.hasOwn(PARSERS, kind) ? PARSERS[kind] : undefined;
}

export const SUPPORTED_KINDS = Object.keys(PARSERS);
