// GRPCRoute as the destination reads it: service/method matches become the path matches of the
// gRPC call's `/<service>/<method>` path, carried in the Service port's profile; hostile values
// refuse the file naming the field; a filter GRPCRoute does not have (RequestRedirect) is warned
// about and refuses the rule.
import { describe, expect, it } from 'vitest';
import { policyFor } from '../../destination/index/policy-view.ts';
import { profileFor } from '../../destination/index/profile-view.ts';
import type { ResourceStore } from '../../destination/store/resource-store.ts';
import { loadFolder } from './resource-folder.ts';

const ORDERS_SERVICE = 'apiVersion: v1\nkind: Service\nmetadata: {name: orders, namespace: production}\nspec:\n  selector: {app: orders}\n  ports: [{port: 9090}]\n';

/** The orders Service and `route`, loaded. */
function load(route: string): { problems: string[]; store: ResourceStore } {
  const folder = loadFolder({ 'orders.yaml': ORDERS_SERVICE, 'route.yaml': route });
  return { problems: folder.problems(), store: folder.store };
}

const route = (matches: string, extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: orders, namespace: production}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 9090}]
  rules:
  - matches: ${matches}
${extra}`;

describe('GRPCRoute in the destination', () => {
  it('turns service and method matches into path matches on the Service port\'s profile', () => {
    const { problems, store } = load(route('[{method: {service: orders.v1.Orders, method: Get}}, {method: {service: orders.v1.Orders}}, {method: {method: Health}}, {method: {type: RegularExpression, service: "orders\\\\..*", method: "List.*"}, headers: [{name: x-tenant, value: a}]}]'));
    expect(problems).toEqual([]);
    const profile = profileFor({ kind: 'service', name: 'orders', namespace: 'production', port: 9090 }, store.resources, 'production', 'cluster.local');
    expect(profile.httpRoutes[0]!.rules[0]!.matches).toEqual([
      { method: 'POST', path: { type: 'Exact', value: '/orders.v1.Orders/Get' } },
      { method: 'POST', path: { type: 'PathPrefix', value: '/orders.v1.Orders' } },
      { method: 'POST', path: { type: 'RegularExpression', value: '/[^/]+/Health' } },
      { method: 'POST', path: { type: 'RegularExpression', value: '/(?:orders\\..*)/(?:List.*)' }, headers: [{ name: 'x-tenant', value: 'a', type: 'Exact' }] },
    ]);
  });

  it.each([
    ['a service name with a slash', '[{method: {service: "orders/v1", method: Get}}]', 'spec.rules[0].matches[0].method.service: must be a gRPC service name such as orders.v1.Orders, got "orders/v1"'],
    ['a method match naming neither', '[{method: {type: Exact}}]', 'spec.rules[0].matches[0].method.service: or method is required (a method match names at least one)'],
    ['a regex that does not compile', '[{method: {type: RegularExpression, service: "orders(("}}]', 'spec.rules[0].matches[0].method.service'],
    ['an unknown match type', '[{method: {type: Prefix, service: orders}}]', 'spec.rules[0].matches[0].method.type: must be Exact or RegularExpression, got "Prefix"'],
  ])('refuses the file for %s, naming the field', (_what, matches, message) => {
    const { problems } = load(route(matches));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^error: route\.yaml/);
    expect(problems[0]).toContain(message);
  });

  it('warns about RequestRedirect, which GRPCRoute does not have, and refuses the rule', () => {
    const { problems } = load(route('[{method: {service: orders.v1.Orders}}]', '    filters: [{type: RequestRedirect, requestRedirect: {hostname: a.example}}]\n'));
    expect(problems).toEqual([
      'warning: route.yaml: GRPCRoute production/orders: spec.rules[0].filters[0].type: filter "RequestRedirect" is not supported on a GRPCRoute (RequestHeaderModifier, ResponseHeaderModifier are); the rule is refused: requests it matches are answered 500, never served without the filter',
    ]);
  });

  it('an AuthorizationPolicy targeting a GRPCRoute whose parent is a Server authorizes just its calls; a missing one is warned about', () => {
    const { problems, store } = load(`apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: orders-grpc, namespace: production}
spec:
  podSelector: {matchLabels: {app: orders}}
  port: 9090
  proxyProtocol: gRPC
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: orders-reads, namespace: production}
spec:
  parentRefs: [{name: orders-grpc, kind: Server, group: policy.linkerd.io}]
  rules:
  - matches: [{method: {service: orders.v1.Orders, method: Get}}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: reads-from-anyone, namespace: production}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: GRPCRoute, name: orders-reads}
  requiredAuthenticationRefs: [{name: all, kind: NetworkAuthentication, group: policy.linkerd.io}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: all, namespace: production}
spec:
  networks: [{cidr: 0.0.0.0/0}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: dangling, namespace: production}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: GRPCRoute, name: gone}
  requiredAuthenticationRefs: [{name: all, kind: NetworkAuthentication, group: policy.linkerd.io}]
`);
    expect(problems).toEqual([
      'warning: route.yaml: AuthorizationPolicy production/dangling: spec.targetRef: GRPCRoute production/gone does not exist; the policy targets nothing and authorizes no one',
    ]);
    const pod = { name: 'orders-0', namespace: 'production', labels: { app: 'orders' }, ip: '10.0.0.5', ports: [{ port: 9090 }], inboundPort: 4143, identity: 'spiffe://cluster.local/ns/production/sa/orders', serviceAccount: 'orders', ready: true };
    const policy = policyFor(pod, 9090, store.resources, { defaultPolicy: 'deny', clusterNetworks: [], trustDomain: 'cluster.local' });
    expect(policy.server?.name).toBe('production/orders-grpc');
    expect(policy.authorizations.map((a) => [a.name, a.routeMatches])).toEqual([
      ['AuthorizationPolicy production/reads-from-anyone', [{ method: 'POST', path: { type: 'Exact', value: '/orders.v1.Orders/Get' } }]],
    ]);
  });
});
