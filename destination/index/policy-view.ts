// The inbound policy of one pod port: the Server selecting it (by podSelector and port number or
// name) and every authorization granted to that Server, from ServerAuthorization and from
// AuthorizationPolicy with the authentications it requires.
import type { Authentication, Authorization, DefaultPolicy, HttpRouteMatch, InboundPolicy } from '../../api/destination-types.ts';
import type { ResourceSet } from '../store/resource-set.ts';
import { labelsMatch, resourceName, serviceSelects, type AuthorizationPolicyResource, type ServerResource } from '../store/resources.ts';
import type { RegisteredPod } from './pod-registry.ts';

export interface PolicySettings {
  defaultPolicy: DefaultPolicy;
  clusterNetworks: string[];
  trustDomain: string;
}

export function policyFor(pod: RegisteredPod | undefined, port: number, set: ResourceSet, settings: PolicySettings): InboundPolicy {
  const policy: InboundPolicy = { port, authorizations: [], defaultPolicy: settings.defaultPolicy, clusterNetworks: settings.clusterNetworks };
  if (!pod) return policy; // not registered yet: labels unknown, so only the default can apply
  const appProtocol = appProtocolOf(pod, port, set);
  if (appProtocol) policy.appProtocol = appProtocol;
  const server = set
    .ofKind('Server')
    .find((s) => s.meta.namespace === pod.namespace && labelsMatch(s.podSelector, pod.labels) && portMatches(s, pod, port));
  if (!server) return policy;
  policy.server = { name: `${server.meta.namespace}/${server.meta.name}`, protocol: server.proxyProtocol, accessPolicy: server.accessPolicy };
  policy.authorizations = [...fromServerAuthorizations(server, set), ...fromAuthorizationPolicies(server, set, settings)];
  return policy;
}

/** The appProtocol of the first Service port (by name) selecting this pod whose targetPort is this port. */
function appProtocolOf(pod: RegisteredPod, port: number, set: ResourceSet): 'http/1.1' | 'h2' | undefined {
  const services = set.ofKind('Service').filter((s) => s.meta.namespace === pod.namespace && serviceSelects(s.selector, pod.labels));
  services.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));
  for (const svc of services) {
    for (const p of svc.ports) {
      if (p.appProtocol === undefined) continue;
      const target = p.targetPort;
      if (target === port || (typeof target === 'string' && pod.ports.some((pp) => pp.name === target && pp.port === port))) return p.appProtocol;
    }
  }
  return undefined;
}

function portMatches(s: ServerResource, pod: RegisteredPod, port: number): boolean {
  if (typeof s.port === 'number') return s.port === port;
  return pod.ports.some((p) => p.name === s.port && p.port === port);
}

function authn(partial: Partial<Authentication>): Authentication {
  return { unauthenticated: false, identities: [], identitySuffixes: [], networks: [], ...partial };
}

function fromServerAuthorizations(server: ServerResource, set: ResourceSet): Authorization[] {
  return set
    .ofKind('ServerAuthorization')
    .filter((sa) => sa.meta.namespace === server.meta.namespace)
    .filter((sa) => sa.server.name === server.meta.name || (sa.server.selector && labelsMatch(sa.server.selector, server.meta.labels)))
    .map((sa) => ({
      name: resourceName(sa.meta),
      authentication: sa.unauthenticated
        ? authn({ unauthenticated: true, networks: sa.networks })
        : authn({
            // unauthenticatedTLS: any TLS client, with or without a mesh identity.
            identities: sa.meshTLS!.unauthenticatedTLS ? ['*'] : sa.meshTLS!.identities,
            // `spiffe://<td>/ns/<ns>/sa/` entries: the proxy reads a SPIFFE-shaped suffix as a prefix.
            identitySuffixes: sa.meshTLS!.identityPrefixes,
            networks: sa.networks,
          }),
    }));
}

function fromAuthorizationPolicies(server: ServerResource, set: ResourceSet, settings: PolicySettings): Authorization[] {
  const out: Authorization[] = [];
  for (const ap of set.ofKind('AuthorizationPolicy')) {
    if (ap.meta.namespace !== server.meta.namespace) continue;
    const t = ap.targetRef;
    let routeMatches: HttpRouteMatch[] | undefined;
    if (t.kind === 'HTTPRoute' || t.kind === 'GRPCRoute') {
      const route = t.kind === 'HTTPRoute' ? set.get('HTTPRoute', t.namespace, t.name) : set.get('GRPCRoute', t.namespace, t.name);
      if (!route || !route.parentRefs.some((p) => p.kind === 'Server' && p.name === server.meta.name && p.namespace === server.meta.namespace)) continue;
      // A rule without matches matches every request (Gateway API's default `/` prefix).
      routeMatches = route.rules.flatMap((r) => (r.matches.length > 0 ? r.matches : [{ path: { type: 'PathPrefix' as const, value: '/' } }]));
    } else if (t.kind === 'Server') {
      if (t.name !== server.meta.name || t.namespace !== server.meta.namespace) continue;
    } else if (t.kind !== 'Namespace' || t.name !== server.meta.namespace) continue;
    const authentication = requiredAuthentication(ap, set, settings);
    if (!authentication) continue; // a missing authentication grants nothing, as in Linkerd
    const authz: Authorization = { name: resourceName(ap.meta), authentication };
    if (routeMatches) authz.routeMatches = routeMatches;
    out.push(authz);
  }
  return out;
}

/** Every required ref must exist; identities and networks from them all must hold together. */
function requiredAuthentication(ap: AuthorizationPolicyResource, set: ResourceSet, settings: PolicySettings): Authentication | undefined {
  const identities: string[] = [];
  const identityPrefixes: string[] = [];
  const networks: string[] = [];
  let meshRequired = false;
  for (const ref of ap.requiredAuthenticationRefs) {
    if (ref.kind === 'ServiceAccount') {
      meshRequired = true;
      identities.push(`spiffe://${settings.trustDomain}/ns/${ref.namespace}/sa/${ref.name}`);
    } else if (ref.kind === 'MeshTLSAuthentication') {
      const m = set.get('MeshTLSAuthentication', ref.namespace, ref.name);
      if (!m) return undefined;
      meshRequired = true;
      identities.push(...m.identities);
      identityPrefixes.push(...m.identityPrefixes);
    } else {
      const n = set.get('NetworkAuthentication', ref.namespace, ref.name);
      if (!n) return undefined;
      networks.push(...n.networks);
    }
  }
  if (ap.requiredAuthenticationRefs.length === 0) return undefined;
  return meshRequired ? authn({ identities, identitySuffixes: identityPrefixes, networks }) : authn({ unauthenticated: true, networks });
}
