// Gateway API routes (matches, timeouts, Linkerd's retry/timeout annotations, consumer routes)
// and AuthorizationPolicy with MeshTLS/Network authentications, through the real streams.
import { describe, expect, it } from 'vitest';
import { pod, harnessForFile, until, waitFor, } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const h = harnessForFile('policy', `${NET}.7`);

describe('HTTPRoute', () => {
  it('producer route: matches, per-rule timeouts over annotation defaults, retry annotations', async () => {
    // The fixture's dangling AuthorizationPolicy (tested below) is the only thing said about it.
    expect(h.server.store.problems().map((p) => p.message.replace(`${h.dir}/`, ''))).toEqual([
      'resources.yaml: AuthorizationPolicy production/dangling: spec.requiredAuthenticationRefs[0]: MeshTLSAuthentication production/does-not-exist does not exist; the policy authorizes no one until it does (as Linkerd)',
    ]);
    const client = await h.client('production/orders', { namespace: 'production' });
    const profile = await client.profile('payments:8080').first(5_000);
    expect(profile.retryBudget).toBeUndefined(); // no ServiceProfile
    expect(profile.httpRoutes.map((r) => r.name)).toEqual(['production/payments-routes']);
    const retry = { httpStatuses: [{ min: 500, max: 599 }, { min: 429, max: 429 }], grpcStatuses: [], limit: 2, timeoutMs: 300 };
    expect(profile.httpRoutes[0]!.rules).toEqual([
      {
        matches: [{ path: { type: 'PathPrefix', value: '/charge' }, method: 'POST', headers: [{ name: 'x-canary', value: 'true', type: 'Exact' }] }],
        backends: [{ authority: 'payments-v2.production.svc.cluster.local:8080', weight: 1 }],
        requestTimeoutMs: 1_000,
        backendTimeoutMs: 250,
        retry,
      },
      {
        matches: [],
        backends: [{ authority: 'payments.production.svc.cluster.local:8080', weight: 1 }],
        requestTimeoutMs: 3_000,
        backendTimeoutMs: 0,
        retry,
      },
    ]);
  });

  it('consumer route in the caller\'s namespace overrides the producer\'s', async () => {
    const client = await h.client('checkout/checkout', { namespace: 'checkout' });
    const profile = await client.profile('payments.production.svc.cluster.local:8080').first(5_000);
    expect(profile.httpRoutes.map((r) => r.name)).toEqual(['checkout/payments-from-checkout']);
  });
});

describe('AuthorizationPolicy', () => {
  it('a Server selected by expression and port name, with policy-, route- and missing-ref authorizations', async () => {
    const payments = await h.client('production/payments', {
      pod: { ...pod('payments-1', `${NET}.71`, { app: 'payments' }), ports: [{ name: 'http', port: 8080 }] },
      defaultPolicy: 'deny',
    });
    const policy = await until(payments.inboundPolicy(8080), (p) => p.server !== undefined, 5_000, 'server');
    expect(policy.server).toEqual({ name: 'production/payments-http', protocol: 'HTTP/1', accessPolicy: 'deny' });
    expect(policy.authorizations).toEqual([
      {
        name: 'ServerAuthorization production/payments-from-checkout-ns',
        authentication: { unauthenticated: false, identities: [], identitySuffixes: ['spiffe://cluster.local/ns/checkout/sa/'], networks: [] },
      },
      {
        name: 'AuthorizationPolicy production/payments-callers',
        authentication: {
          unauthenticated: false,
          identities: ['spiffe://cluster.local/ns/production/sa/orders', 'spiffe://cluster.local/ns/production/sa/checkout'],
          identitySuffixes: [],
          networks: ['127.0.10.0/24'],
        },
      },
      {
        name: 'AuthorizationPolicy production/payments-probes',
        authentication: { unauthenticated: true, identities: [], identitySuffixes: [], networks: ['127.0.10.0/24'] },
        routeMatches: [
          { path: { type: 'Exact', value: '/ready' }, method: 'GET' },
          { path: { type: 'Exact', value: '/live' }, method: 'GET' },
        ],
      },
    ]); // `dangling` names a MeshTLSAuthentication that does not exist: it grants nothing
    expect(policy.defaultPolicy).toBe('deny');
    expect(policy.clusterNetworks).toContain('127.0.0.0/8');
  });
});

describe('DestinationClient', () => {
  it('shares one watch per authority and stops idle ones', async () => {
    const client = await h.client('production/orders', { namespace: 'production', idleTimeoutMs: 200 });
    const a = client.endpoints('payments:8080');
    expect(client.endpoints('payments:8080')).toBe(a);
    const unsubscribe = a.subscribe(() => undefined);
    client.profile('payments:8080');
    expect(client.watchCount).toBe(2);
    // Polled with a generous deadline (timers run late on a loaded machine); the pause after it,
    // longer than the idle timeout, shows the subscribed endpoints really stay.
    await waitFor(() => client.watchCount === 1, 5_000, 'the unheld profile to go idle');
    await new Promise((r) => setTimeout(r, 400));
    expect(client.watchCount).toBe(1); // the profile nobody held went idle; the subscribed endpoints stay
    unsubscribe();
    await waitFor(() => client.watchCount === 0, 5_000, 'the unsubscribed endpoints to go idle');
  });
});
