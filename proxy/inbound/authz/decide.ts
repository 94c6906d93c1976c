// The authorization decision for one caller on one port: the Server's authorizations (route-scoped
// ones only for requests their HTTPRoute matches), else the proxy's default policy.
import type { Authentication, Authorization, InboundPolicy } from '../../../api/destination-types.ts';
import { compileMatch, type MatchableRequest } from '../../http/route-match.ts';
import { inNetworks, type NetworkCache } from './cidr.ts';

export interface Caller {
  ip: string;
  /** SPIFFE id from the client certificate; absent for plaintext callers. */
  identity?: string;
  tls: boolean;
}

/** Bounded metric label values for a denial. */
export type DenyReason = 'unauthenticated' | 'unauthorized' | 'outside-cluster' | 'default-deny' | 'no-policy';

export type Decision =
  | { allowed: true; server: string; authz: string }
  | { allowed: false; server: string; reason: DenyReason; message: string };

/** `Server production/orders-grpc`, or `default policy all-authenticated` when no Server selects the port. */
export function serverLabel(policy: InboundPolicy): string {
  return policy.server ? policy.server.name : `default:${policy.defaultPolicy}`;
}

export function describeCaller(c: Caller): string {
  return c.tls && c.identity ? `client ${c.identity} (${c.ip})` : `unauthenticated client ${c.ip} (no client certificate)`;
}

/** Linkerd's DNS-style name for a SPIFFE id: `sa.ns.serviceaccount.identity.linkerd.<trust domain>`. */
function linkerdName(spiffe: string): string | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(spiffe);
  return m ? `${m[3]}.${m[2]}.serviceaccount.identity.linkerd.${m[1]}` : undefined;
}

function identityMatches(identity: string, auth: Authentication): boolean {
  const names = [identity, linkerdName(identity)].filter((n): n is string => n !== undefined);
  if (auth.identities.some((id) => id === '*' || names.includes(id))) return true;
  return auth.identitySuffixes.some((raw) => {
    const suffix = raw.replace(/^\*/, '');
    if (suffix === '') return true;
    // `spiffe://cluster.local/ns/production/` reads as a prefix; DNS-style suffixes as suffixes.
    if (suffix.startsWith('spiffe://')) return identity.startsWith(suffix);
    return names.some((n) => n.endsWith(suffix));
  });
}

export function admits(auth: Authentication, caller: Caller, networks?: NetworkCache): boolean {
  if (auth.networks.length > 0 && !inNetworks(caller.ip, auth.networks, networks)) return false;
  if (auth.unauthenticated) return true;
  const meshRules = auth.identities.length + auth.identitySuffixes.length;
  if (meshRules === 0) return auth.networks.length > 0; // NetworkAuthentication alone
  return caller.tls && caller.identity !== undefined && identityMatches(caller.identity, auth);
}

/** Route matches and networks compiled once per policy object (policies are replaced, not mutated). */
export interface DecisionCache {
  routes: WeakMap<Authorization, Array<(r: MatchableRequest) => boolean>>;
  networks: NetworkCache;
}

export function newDecisionCache(): DecisionCache {
  return { routes: new WeakMap(), networks: new WeakMap() };
}

function routeApplies(a: Authorization, req: MatchableRequest | undefined, compiledRoutes: DecisionCache['routes']): boolean {
  if (!a.routeMatches) return true;
  if (!req) return false; // opaque TCP has no route: route-scoped rules never admit it
  let tests = compiledRoutes.get(a);
  if (!tests) {
    try {
      tests = a.routeMatches.map((m, i) => compileMatch(m, `${a.name} routeMatches[${i}]`)).map((c) => c.test);
    } catch {
      tests = []; // an uncompilable route admits nothing (fail closed)
    }
    compiledRoutes.set(a, tests);
  }
  return tests.length === 0 ? a.routeMatches.length === 0 : tests.some((t) => t(req));
}

export function decide(
  policy: InboundPolicy,
  caller: Caller,
  req?: MatchableRequest,
  cache: DecisionCache = newDecisionCache(),
): Decision {
  const server = serverLabel(policy);
  const who = describeCaller(caller);
  const authenticated = caller.tls && caller.identity !== undefined;
  if (policy.server) {
    for (const a of policy.authorizations) {
      if (routeApplies(a, req, cache.routes) && admits(a.authentication, caller, cache.networks)) return { allowed: true, server, authz: a.name };
    }
    return {
      allowed: false,
      server,
      reason: authenticated ? 'unauthorized' : 'unauthenticated',
      message: `port ${policy.port}: Server ${policy.server.name} does not authorize ${who}`,
    };
  }
  const deny = (reason: DenyReason, why: string): Decision => ({
    allowed: false,
    server,
    reason,
    message: `port ${policy.port}: no Server selects this port and the default policy ${policy.defaultPolicy} ${why} ${who}`,
  });
  const allow: Decision = { allowed: true, server, authz: `default:${policy.defaultPolicy}` };
  switch (policy.defaultPolicy) {
    case 'all-unauthenticated':
      return allow;
    case 'all-authenticated':
      return authenticated ? allow : deny('unauthenticated', 'requires mTLS; refuses');
    case 'cluster-authenticated':
      // As Linkerd: authenticated AND from the cluster's networks (empty list: any network).
      if (!authenticated) return deny('unauthenticated', 'requires mTLS; refuses');
      if (policy.clusterNetworks.length > 0 && !inNetworks(caller.ip, policy.clusterNetworks, cache.networks)) {
        return deny('outside-cluster', 'admits only cluster networks; refuses');
      }
      return allow;
    case 'deny':
      return deny('default-deny', 'refuses');
    default:
      return deny('no-policy', `is unknown; refuses`);
  }
}
