// The authorization decision for one caller on one port: the Server's authorizations (route-scoped
// ones only for requests their HTTPRoute matches), else the proxy's default policy.
import type { Authentication, Authorization, DefaultPolicy, InboundPolicy } from '../../../api/destination-types.ts';
import { compileMatch, type MatchableRequest } from '../../http/route-match.ts';
import { inNetworks, NetworkCache, type BadNetworkReport } from './cidr.ts';

export interface Caller {
  ip: string;
  /** SPIFFE id from the client certificate; absent for plaintext callers. */
  identity?: string;
  tls: boolean;
}

/** Bounded metric label values for a denial. */
export type DenyReason = 'unauthenticated' | 'unauthorized' | 'outside-cluster' | 'default-deny' | 'no-policy';

export type Decision =
  /** `audit`: admitted only by audit mode; what a deny would have said. */
  | { allowed: true; server: string; authz: string; audit?: string }
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

/** Whether `auth` admits the caller; `name` (the authorization's) says where a bad network is. */
export function admits(auth: Authentication, caller: Caller, networks: NetworkCache, name: string): boolean {
  if (auth.networks.length > 0 && !inNetworks(caller.ip, auth.networks, networks, name)) return false;
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

/** `onBadNetwork` hears of each network that is not a CIDR, once per policy that carries it. */
export function newDecisionCache(onBadNetwork?: BadNetworkReport): DecisionCache {
  return { routes: new WeakMap(), networks: new NetworkCache(onBadNetwork) };
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
  if (policy.server) {
    for (const a of policy.authorizations) {
      if (routeApplies(a, req, cache.routes) && admits(a.authentication, caller, cache.networks, a.name)) return { allowed: true, server, authz: a.name };
    }
    // No authorization admits the caller: the Server's accessPolicy decides (Linkerd 2.15+).
    const access = policy.server.accessPolicy ?? 'deny';
    if (access === 'deny') {
      const reason = isAuthenticated(caller) ? 'unauthorized' : 'unauthenticated';
      return { allowed: false, server, reason, message: `port ${policy.port}: Server ${policy.server.name} does not authorize ${who}` };
    }
    return byPolicy(access, policy, caller, cache, server, `port ${policy.port}: no authorization of Server ${policy.server.name} admits this caller, and its accessPolicy ${access}`);
  }
  return byPolicy(policy.defaultPolicy, policy, caller, cache, server, `port ${policy.port}: no Server selects this port and the default policy ${policy.defaultPolicy}`);
}

const CLUSTER_NETWORKS = 'the cluster networks';

function isAuthenticated(c: Caller): boolean {
  return c.tls && c.identity !== undefined;
}

/**
 * One of Linkerd's default policies applied to a caller (a port's default, or a Server's
 * accessPolicy): `why` starts the message of a refusal.
 */
function byPolicy(kind: DefaultPolicy, policy: InboundPolicy, caller: Caller, cache: DecisionCache, server: string, why: string): Decision {
  const who = describeCaller(caller);
  const deny = (reason: DenyReason, verdict: string): Decision => ({ allowed: false, server, reason, message: `${why} ${verdict} ${who}` });
  const allow: Decision = { allowed: true, server, authz: `default:${kind}` };
  const inCluster = policy.clusterNetworks.length === 0 || inNetworks(caller.ip, policy.clusterNetworks, cache.networks, CLUSTER_NETWORKS);
  switch (kind) {
    case 'all-unauthenticated':
      return allow;
    case 'all-authenticated':
      return isAuthenticated(caller) ? allow : deny('unauthenticated', 'requires mTLS; refuses');
    case 'cluster-unauthenticated':
      // As Linkerd: any caller, with or without mTLS, from the cluster's networks (empty list: any network).
      return inCluster ? allow : deny('outside-cluster', 'admits only cluster networks; refuses');
    case 'cluster-authenticated':
      // As Linkerd: authenticated AND from the cluster's networks.
      if (!isAuthenticated(caller)) return deny('unauthenticated', 'requires mTLS; refuses');
      return inCluster ? allow : deny('outside-cluster', 'admits only cluster networks; refuses');
    case 'deny':
      return deny('default-deny', 'refuses');
    case 'audit':
      // Admitted, but as Linkerd's audit mode: authz "audit" in the metrics, and a log line
      // saying what a deny would have refused.
      return { allowed: true, server, authz: 'audit', audit: `${why} admits ${who}, which no rule admits` };
    default:
      return deny('no-policy', 'is unknown; refuses');
  }
}
