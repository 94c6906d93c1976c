// Bad resources are rejected with file, kind/name and field path, and the last good version of
// that resource stays in force while the rest of the folder loads.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResourceStore } from '../../destination/store/resource-store.ts';
import { MAX_CONDITION_DEPTH } from '../../destination/store/kinds/service-profile.ts';
import { pod, startHarness, until, waitFor } from './harness.ts';
import { loadFolder } from './resource-folder.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

function storeWith(files: Record<string, string>): { store: ResourceStore; dir: string; errors: () => string[]; warnings: () => string[] } {
  const { dir, store } = loadFolder(files);
  const of = (severity: string) => () => store.problems().filter((p) => p.severity === severity).map((p) => p.message.replace(`${dir}/`, ''));
  return { store, dir, errors: of('error'), warnings: of('warning') };
}

const route = (weight: string, timeout = '2s', path = 'PathPrefix", "value": "/"') => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders-canary, namespace: production}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 8080}]
  rules:
  - matches: [{path: {"type": "${path}}}]
    timeouts: {request: ${timeout}}
    backendRefs:
    - {name: orders-stable, port: 8080, weight: 90}
    - {name: orders-canary, port: 8080, weight: ${weight}}
`;

/** The orders ServiceProfile with one route (its fields in YAML flow style) and, when `ttl` is given, a retry budget. */
const serviceProfile = (route: string, ttl?: string) => `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: orders.production.svc.cluster.local, namespace: production}
spec:
  ${ttl === undefined ? '' : `retryBudget: {retryRatio: 0.2, minRetriesPerSecond: 10, ttl: ${ttl}}`}
  routes: [{${route}}]
`;

/** A route's fields: GET of one order, with a timeout and a path regex. */
const timedRoute = (timeout: string, regex = '/orders/[^/]+') => `name: 'GET /orders/{id}', condition: {method: GET, pathRegex: '${regex}'}, timeout: ${timeout}`;

describe('precise errors', () => {
  it('a negative weight', () => {
    const { errors, store } = storeWith({ 'orders.yaml': route('-5') });
    expect(errors()).toEqual(['orders.yaml: HTTPRoute production/orders-canary: spec.rules[0].backendRefs[1].weight: must be a non-negative integer, got -5']);
    expect(store.resources.ofKind('HTTPRoute')).toEqual([]);
  });

  it('a timeout of "abc"', () => {
    const { errors } = storeWith({ 'orders.yaml': route('10', 'abc') });
    expect(errors()).toEqual(['orders.yaml: HTTPRoute production/orders-canary: spec.rules[0].timeouts.request: "abc" is not a duration: expected a number at "abc" (write e.g. 300ms, 1.5h, 2h45m)']);
  });

  it('a ServiceProfile timeout of "abc" and a regex that does not compile', () => {
    expect(storeWith({ 'sp.yaml': serviceProfile(timedRoute('abc')) }).errors()).toEqual([
      'sp.yaml: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[0].timeout: "abc" is not a duration: expected a number at "abc" (write e.g. 300ms, 1.5h, 2h45m)',
    ]);
    expect(storeWith({ 'sp.yaml': serviceProfile(timedRoute('1s', '/orders/([^/]+')) }).errors()).toEqual([
      'sp.yaml: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[0].condition.pathRegex: is not a valid regular expression (Unterminated group), got "/orders/([^/]+"',
    ]);
    expect(storeWith({ 'r.yaml': route('10', '1s', 'RegularExpression", "value": "/orders/("') }).errors()).toEqual([
      'r.yaml: HTTPRoute production/orders-canary: spec.rules[0].matches[0].path.value: is not a valid regular expression (Unterminated group), got "/orders/("',
    ]);
  });

  it('a timeout or retry budget TTL longer than the wire\'s uint32 of milliseconds, refused rather than wrapped', () => {
    const sp = 'sp.yaml: ServiceProfile production/orders.production.svc.cluster.local: spec';
    const limit = 'must be at most 1193h2m47.295s (4294967295ms, what the proxies\' uint32 of milliseconds holds)';
    // 1200h is 4 320 000 000 ms: as a uint32 it would reach a proxy as 25 032 704 ms (about 7 hours).
    expect(storeWith({ 'sp.yaml': serviceProfile(timedRoute('1200h'), '10s') }).errors()).toEqual([`${sp}.routes[0].timeout: ${limit}, got "1200h"`]);
    expect(storeWith({ 'sp.yaml': serviceProfile(timedRoute('1s'), '4294967296ms') }).errors()).toEqual([`${sp}.retryBudget.ttl: ${limit}, got "4294967296ms"`]);
    expect(storeWith({ 'r.yaml': route('10', '1200h') }).errors()).toEqual([
      `r.yaml: HTTPRoute production/orders-canary: spec.rules[0].timeouts.request: ${limit}, got "1200h"`,
    ]);
    // A retry limit too: 4294967296 would reach a proxy as 0.
    const limited = (limit: string) => route('10').replace('metadata: {name: orders-canary, namespace: production}', `metadata: {name: orders-canary, namespace: production, annotations: {retry.linkerd.io/http: 5xx, retry.linkerd.io/limit: "${limit}"}}`);
    for (const bad of ['4294967296', '1e3', '0x10']) {
      expect(storeWith({ 'r.yaml': limited(bad) }).errors()).toEqual([
        `r.yaml: HTTPRoute production/orders-canary: metadata.annotations["retry.linkerd.io/limit"]: must be a whole number from 0 to 4294967295, got "${bad}"`,
      ]);
    }
    expect(storeWith({ 'r.yaml': limited('4294967295') }).errors()).toEqual([]);
    // The longest that fits is taken as written.
    const longest = storeWith({ 'sp.yaml': serviceProfile(timedRoute('1193h2m47.295s'), '4294967295ms') });
    expect(longest.errors()).toEqual([]);
    const [read] = longest.store.resources.ofKind('ServiceProfile');
    expect([read!.routes[0]!.timeoutMs, read!.retryBudget!.ttlMs]).toEqual([4294967295, 4294967295]);
  });

  it('a ServiceProfile condition nested deeper than the wire can carry', () => {
    const profile = (condition: string, responseCondition = '{status: {min: 500}}') =>
      serviceProfile(`name: deep, condition: ${condition}, responseClasses: [{condition: ${responseCondition}, isFailure: true}]`);
    const nested = (depth: number, level: (inner: string) => string, leaf: string) => {
      let c = leaf;
      for (let i = 0; i < depth; i++) c = level(c);
      return c;
    };
    const sp = 'sp.yaml: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[0]';
    // MAX_CONDITION_DEPTH levels are read, each level's own fields included.
    const deepest = nested(MAX_CONDITION_DEPTH, (c) => `{method: GET, all: [${c}]}`, '{method: GET}');
    const accepted = storeWith({ 'sp.yaml': profile(deepest) });
    expect(accepted.errors()).toEqual([]);
    expect(accepted.store.resources.ofKind('ServiceProfile')).toHaveLength(1);
    // One more is refused where it goes too deep, in a request condition or a response one.
    const request = nested(MAX_CONDITION_DEPTH + 1, (c) => `{any: [${c}]}`, '{method: GET}');
    expect(storeWith({ 'sp.yaml': profile(request) }).errors()).toEqual([
      `${sp}.condition${'.any[0]'.repeat(MAX_CONDITION_DEPTH)}.any: nests all / any / not more than ${MAX_CONDITION_DEPTH} deep`,
    ]);
    const response = nested(MAX_CONDITION_DEPTH + 1, (c) => `{not: ${c}}`, '{status: {min: 500}}');
    expect(storeWith({ 'sp.yaml': profile('{method: GET}', response) }).errors()).toEqual([
      `${sp}.responseClasses[0].condition${'.not'.repeat(MAX_CONDITION_DEPTH)}.not: nests all / any / not more than ${MAX_CONDITION_DEPTH} deep`,
    ]);
  });

  it('a Server with no port', () => {
    const { errors } = storeWith({
      'server.yaml': `
apiVersion: policy.linkerd.io/v1beta1
kind: Server
metadata: {name: orders-grpc, namespace: production}
spec:
  podSelector: {matchLabels: {app: orders}}
  proxyProtocol: gRPC
`,
    });
    expect(errors()).toEqual(['server.yaml: Server production/orders-grpc: spec.port: is required: a port number or a container port name']);
  });

  it('other mistakes: unknown kind, wrong apiVersion, YAML syntax, bad CIDR, bad retry annotation, duplicates', () => {
    const { errors, store } = storeWith({
      'a.yaml': `
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Servise, metadata: {name: x}}
- {apiVersion: linkerd.io/v1, kind: ServiceProfile, metadata: {name: y.default.svc.cluster.local}, spec: {}}
- apiVersion: policy.linkerd.io/v1alpha1
  kind: NetworkAuthentication
  metadata: {name: nets, namespace: production}
  spec: {networks: [{cidr: 10.0.0.0/33}]}
- apiVersion: v1
  kind: Service
  metadata: {name: orders, namespace: production}
  spec: {selector: {app: orders}, ports: [{port: 8080}]}
`,
      'b.yaml': `
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: production}
spec: {selector: {app: orders}, ports: [{port: 8080}]}
---
apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata:
  name: r
  namespace: production
  annotations: {retry.linkerd.io/http: "5xx,6000", retry.linkerd.io/limit: "two"}
spec: {parentRefs: [{name: orders, kind: Service, group: core}]}
`,
      'c.yaml': 'apiVersion: v1\nkind: Service\n  metadata: [oops\n',
    });
    expect(errors()).toEqual([
      expect.stringMatching(/^a\.yaml: document 1, items\[0\]: Servise default\/x: kind: must be one of Service, ServiceProfile, .*got "Servise"$/),
      'a.yaml: ServiceProfile default/y.default.svc.cluster.local: apiVersion: must be one of linkerd.io/v1alpha2, linkerd.io/v1alpha1 for kind ServiceProfile, got "linkerd.io/v1"',
      'a.yaml: NetworkAuthentication production/nets: spec.networks[0].cidr: must be a CIDR such as "10.0.0.0/8", got "10.0.0.0/33"',
      'b.yaml: Service production/orders: metadata.name: duplicates the Service already defined in ' + store.resources.get('Service', 'production', 'orders')!.meta.file + '; ignored',
      'b.yaml: HTTPRoute production/r: metadata.annotations["retry.linkerd.io/http"]: must be a list of statuses like "5xx,429" or "500-504", got "6000"',
      expect.stringMatching(/^c\.yaml: document 1: YAML syntax: /),
    ]);
  });

  it('a network that is not a CIDR as the proxy reads one is refused, naming the resource and the value', () => {
    const nets = (name: string, cidr: string) =>
      `apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {name: ${name}, namespace: production}\nspec: {networks: [{cidr: "${cidr}"}]}\n`;
    const { errors } = storeWith({ 'n.yaml': [nets('exp', '10.0.0.0/1e1'), nets('hex', '10.0.0.0/0x10'), nets('space', '10.0.0.0/ 8'), nets('zone', 'fe80::1%eth0/64')].join('---\n') });
    expect(errors()).toEqual(
      [['exp', '10.0.0.0/1e1'], ['hex', '10.0.0.0/0x10'], ['space', '10.0.0.0/ 8'], ['zone', 'fe80::1%eth0/64']].map(
        ([name, cidr]) => `n.yaml: NetworkAuthentication production/${name}: spec.networks[0].cidr: must be a CIDR such as "10.0.0.0/8", got "${cidr}"`,
      ),
    );
  });

  it('an alias bomb or an alias before its anchor is a file error, not a crash', () => {
    const row = (name: string, of: string) => `${name}: &${name} [${Array(9).fill(`*${of}`).join(', ')}]`;
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', row('b', 'a'), row('c', 'b'), row('d', 'c'), 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]'].join('\n');
    const { errors, store } = storeWith({
      'bomb.yaml': bomb,
      'early.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: *later, namespace: &later x}\n',
      'ok.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: orders, namespace: production}\nspec: {selector: {app: orders}, ports: [{port: 8080}]}\n',
    });
    expect(errors()).toEqual([
      'bomb.yaml: document 1: YAML: Excessive alias count indicates a resource exhaustion attack',
      expect.stringMatching(/^early\.yaml: document 1: YAML: Unresolved alias .*: later$/),
    ]);
    expect(store.resources.ofKind('Service').map((s) => s.meta.name)).toEqual(['orders']);
  });

  it('warns loudly about a ServiceProfile that can never apply', () => {
    const sp = (name: string, ns: string) => `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: ${name}, namespace: ${ns}}
spec: {routes: [{name: all, condition: {pathRegex: '.*'}}]}
---
`;
    const { warnings } = storeWith({
      'sp.yaml': sp('orders.production.svc.cluster.local', 'checkout') + sp('orders', 'production') + sp('payments.production.svc.cluster.local', 'production'),
    });
    expect(warnings()).toEqual([
      'sp.yaml: ServiceProfile checkout/orders.production.svc.cluster.local: metadata.namespace: WILL NEVER APPLY: a profile for orders.production must live in namespace production (the server\'s), not checkout',
      'sp.yaml: ServiceProfile production/orders: metadata.name: WILL NEVER APPLY: the name must be <service>.<namespace>.svc.cluster.local',
      'sp.yaml: ServiceProfile production/payments.production.svc.cluster.local: metadata.name: WILL NOT APPLY: there is no Service production/payments',
    ]);
  });
});

describe('last good state', () => {
  it('a Server edited to lose its port keeps its last good policy on the proxy', async () => {
    const h = await startHarness('lesson', `${NET}.3`);
    try {
      const orders = await h.client('production/orders', { pod: pod('orders-1', `${NET}.31`, { app: 'orders' }) });
      const cell = orders.inboundPolicy(9090);
      await until(cell, (p) => p.server?.name === 'production/orders-grpc');
      const file = join(h.dir, 'authz.yaml');
      const { readFileSync } = await import('node:fs');
      const original = readFileSync(file, 'utf8');
      const errors = () => h.server.store.problems().filter((p) => p.severity === 'error').map((p) => p.message);
      writeFileSync(file, original.replace('  port: 9090\n', ''));
      // Wait for the reload itself (a loaded machine may be slow to deliver the file event), then
      // give a wrong push time to reach the proxy before checking that none came.
      await waitFor(() => errors().length > 0, 5_000, 'the reload that rejects the Server');
      await new Promise((r) => setTimeout(r, 300));
      expect(cell.get()!.server?.name).toBe('production/orders-grpc');
      expect(cell.get()!.authorizations).toHaveLength(1);
      expect(errors()).toEqual([
        `${file}: Server production/orders-grpc: spec.port: is required: a port number or a container port name (the last good version stays in force)`,
      ]);
      // A file that no longer parses keeps everything it held.
      writeFileSync(file, original + '\n  : [broken');
      const unparsable = /authz\.yaml: document \d: YAML syntax: .*keeping the last good 2 resource\(s\) from it/;
      await waitFor(() => unparsable.test(errors().join('\n')), 5_000, 'the reload that finds authz.yaml unparsable');
      await new Promise((r) => setTimeout(r, 300));
      expect(cell.get()!.authorizations).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});
