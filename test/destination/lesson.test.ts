// The lesson's YAML served over the real gRPC streams: profile routes and budget, the canary
// split, and the orders-grpc Server admitting only checkout.
import { describe, expect, it } from 'vitest';
import { addresses, pod, harnessForFile, until, } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const h = harnessForFile('lesson', `${NET}.1`);

describe('lesson YAML through the destination', () => {
  it('loads with no errors, and warns about the misplaced retryBudget', () => {
    const problems = h.server.store.problems();
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(problems.map((p) => p.message).join('\n')).toMatch(/spec\.routes\[0\]\.retryBudget: retryBudget belongs at spec\.retryBudget/);
  });

  it('streams the ServiceProfile routes, timeouts, response classes and retry budget', async () => {
    const client = await h.client('production/checkout', { namespace: 'production' });
    const profile = await client.profile('orders:8080').first(5_000, 'profile');
    expect(profile.fqdn).toBe('orders.production.svc.cluster.local');
    expect(profile.routes.map((r) => [r.name, r.timeoutMs, r.isRetryable])).toEqual([
      ['POST /orders', 500, false],
      ['GET /orders/{id}', 200, true],
    ]);
    expect(profile.routes[0]!.condition).toEqual({ all: [{ method: 'POST' }, { pathRegex: '/orders' }] });
    expect(profile.routes[0]!.responseClasses).toEqual([{ condition: { status: { min: 500, max: 599 } }, isFailure: true }]);
    expect(profile.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });
  });

  it('streams the canary split as weighted backends resolved to authorities', async () => {
    const client = await h.client('production/checkout', { namespace: 'production' });
    for (const name of ['orders:8080', 'orders.production:8080', 'orders.production.svc.cluster.local:8080']) {
      const profile = await client.profile(name).first(5_000, name);
      expect(profile.httpRoutes).toHaveLength(1);
      expect(profile.httpRoutes[0]!.name).toBe('production/orders-canary');
      expect(profile.httpRoutes[0]!.rules[0]!.backends).toEqual([
        { authority: 'orders-stable.production.svc.cluster.local:8080', weight: 90 },
        { authority: 'orders-canary.production.svc.cluster.local:8080', weight: 10 },
      ]);
    }
    // The route's parentRef names port 8080: the gRPC port has no split.
    expect((await client.profile('orders:9090').first(5_000)).httpRoutes).toEqual([]);
  });

  it('resolves endpoints of registered pods by label, mapping named target ports, with their metric labels', async () => {
    const orders = await h.client('production/orders', { pod: { ...pod('orders-1', `${NET}.11`, { app: 'orders', track: 'stable' }), deployment: 'orders-stable' } });
    await until(orders.registration, (r) => r.accepted, 5_000, 'registration');
    const checkout = await h.client('production/checkout', { namespace: 'production' });
    const stable = await until(checkout.endpoints('orders-stable:8080'), (s) => addresses(s).length === 1);
    expect(stable).toEqual({
      kind: 'endpoints',
      endpoints: [
        {
          address: `${NET}.11:8080`,
          weight: 1,
          identity: 'spiffe://cluster.local/ns/production/sa/orders',
          inboundPort: 4143,
          h2: true,
          labels: { app: 'orders', track: 'stable', pod: 'orders-1', namespace: 'production', serviceaccount: 'orders' },
          // Linkerd's metric_labels: the caller's proxy exports them as dst_* (the Service is the one asked for).
          metricLabels: { namespace: 'production', service: 'orders-stable', deployment: 'orders-stable', pod: 'orders-1' },
        },
      ],
    });
    const viaOrders = await until(checkout.endpoints('orders:8080'), (s) => addresses(s).length === 1);
    expect(viaOrders.kind === 'endpoints' && viaOrders.endpoints[0]!.metricLabels?.service).toBe('orders');
    expect(addresses(await checkout.endpoints('orders:9090').first(5_000))).toEqual([`${NET}.11:9090`]);
    expect(await until(checkout.endpoints('orders-canary:8080'), () => true)).toEqual({ kind: 'endpoints', endpoints: [] });
    expect(await checkout.endpoints('nosuch:80').first(5_000)).toEqual({ kind: 'unknown' });
  });

  it('streams the orders-grpc Server and its checkout-only authorization to the orders pod', async () => {
    const orders = await h.client('production/orders', {
      pod: pod('orders-2', `${NET}.12`, { app: 'orders' }),
      defaultPolicy: 'all-authenticated',
    });
    const policy = await until(orders.inboundPolicy(9090), (p) => p.server !== undefined, 5_000, 'policy with server');
    expect(policy.server).toEqual({ name: 'production/orders-grpc', protocol: 'gRPC', accessPolicy: 'deny' });
    expect(policy.defaultPolicy).toBe('all-authenticated');
    expect(policy.authorizations).toEqual([
      {
        name: 'ServerAuthorization production/orders-grpc-allow-checkout',
        authentication: {
          unauthenticated: false,
          identities: ['spiffe://cluster.local/ns/production/sa/checkout'],
          identitySuffixes: [],
          networks: [],
        },
      },
    ]);
    // Port 8080 has no Server: the proxy's default applies.
    const other = await orders.inboundPolicy(8080).first(5_000);
    expect(other.server).toBeUndefined();
    expect(other.defaultPolicy).toBe('all-authenticated');
  });
});
