// The logical service: weighted traffic split over HTTPRoute backends, live weight changes, route
// labels, and keeping the last good profile when a bad one arrives.
import { describe, expect, it } from 'vitest';
import type { Profile } from '../../../../api/destination-types.ts';
import { Watched } from '../../../../proxy/discovery/watched.ts';
import { createLogicalService, type LogicalTarget } from '../../../../proxy/outbound/logical/index.ts';
import { routeStack } from '../../../../proxy/outbound/stack.ts';
import { meshRequest, response } from '../../../helpers/fake-request.ts';

function splitProfile(stable: number, canary: number, extra: Partial<Profile> = {}): Profile {
  return {
    fqdn: 'orders.production.svc.cluster.local',
    routes: [],
    httpRoutes: [
      {
        name: 'production/orders-canary',
        rules: [
          {
            matches: [],
            backends: [
              { authority: 'orders-stable.production.svc.cluster.local:8080', weight: stable },
              { authority: 'orders-canary.production.svc.cluster.local:8080', weight: canary },
            ],
            requestTimeoutMs: 0,
            backendTimeoutMs: 0,
          },
        ],
      },
    ],
    ...extra,
  };
}

/** The logical service as the outbound stack builds it: each route with the stack's route layers. */
function logicalService(target: Omit<LogicalTarget, 'route'>) {
  return createLogicalService({ ...target, route: routeStack({ authority: target.authority, concrete: target.concrete }) });
}

function harness(profile: Profile) {
  const hits = new Map<string, number>();
  const watched = new Watched(profile);
  const svc = logicalService({
    authority: 'orders.production.svc.cluster.local:8080',
    profile: watched,
    concrete: (authority) => async () => {
      hits.set(authority, (hits.get(authority) ?? 0) + 1);
      return response(200);
    },
  });
  const share = (name: string) => (hits.get(`${name}.production.svc.cluster.local:8080`) ?? 0) / [...hits.values()].reduce((a, b) => a + b, 0);
  return { svc, watched, hits, share };
}

describe('traffic split', () => {
  it('splits 90/10 over 5,000 requests within two percentage points', async () => {
    const h = harness(splitProfile(90, 10));
    for (let i = 0; i < 5000; i++) expect((await h.svc(meshRequest())).status).toBe(200);
    expect(Math.abs(h.share('orders-stable') - 0.9)).toBeLessThan(0.02);
    expect(Math.abs(h.share('orders-canary') - 0.1)).toBeLessThan(0.02);
  });

  it('applies a weight change to the next request, and labels the backend', async () => {
    const h = harness(splitProfile(90, 10));
    for (let i = 0; i < 100; i++) await h.svc(meshRequest());
    h.watched.set(splitProfile(0, 100));
    h.hits.clear();
    const req = meshRequest();
    await h.svc(req);
    expect(req.ctx.labels.backend).toBe('orders-canary.production.svc.cluster.local:8080');
    for (let i = 0; i < 200; i++) await h.svc(meshRequest());
    expect(h.share('orders-canary')).toBe(1);
  });

  it('keeps the last good profile when an update does not compile', async () => {
    const h = harness(splitProfile(0, 100));
    await h.svc(meshRequest());
    const bad = splitProfile(100, 0);
    bad.httpRoutes[0]!.rules[0]!.matches = [{ path: { type: 'RegularExpression', value: '([' } }];
    h.watched.set(bad);
    h.hits.clear();
    for (let i = 0; i < 20; i++) await h.svc(meshRequest());
    expect(h.share('orders-canary')).toBe(1);
  });

  it('without routes, goes straight to the logical authority and sets the route label when one matches', async () => {
    const h = harness({ fqdn: 'orders.production.svc.cluster.local', routes: [], httpRoutes: [] });
    await h.svc(meshRequest());
    expect([...h.hits.keys()]).toEqual(['orders.production.svc.cluster.local:8080']);
    h.watched.set({
      fqdn: 'orders.production.svc.cluster.local',
      routes: [{ name: 'GET /orders/{id}', condition: { pathRegex: '/orders/[^/]+' }, responseClasses: [], timeoutMs: 0, isRetryable: false }],
      httpRoutes: [],
    });
    const req = meshRequest({ path: '/orders/7' });
    await h.svc(req);
    expect(req.ctx.route).toBe('GET /orders/{id}');
    expect(req.ctx.isFailure?.(503, undefined)).toBe(true);
  });
});

describe('an authority\'s first profile', () => {
  const retryingProfile = (): Profile => ({
    fqdn: 'payments.production.svc.cluster.local',
    routes: [{ name: 'POST /charge', condition: { pathRegex: '/charge' }, responseClasses: [], timeoutMs: 0, isRetryable: true }],
    httpRoutes: [],
  });

  it('is waited for by the first requests, so their retries already apply', async () => {
    const watched = new Watched<Profile>();
    let attempts = 0;
    const svc = logicalService({
      authority: 'payments.production.svc.cluster.local:8080',
      profile: watched,
      profileTimeoutMs: 5_000,
      concrete: () => async () => response(++attempts === 1 ? 503 : 200),
    });
    const pending = svc(meshRequest({ method: 'POST', path: '/charge' }));
    setTimeout(() => watched.set(retryingProfile()), 50); // discovery answers a little later
    expect((await pending).status).toBe(200);
    expect(attempts).toBe(2); // the 503 was retried under the profile's route
  });

  it('is not waited for past its timeout: requests go on without it, and later ones do not wait', async () => {
    const watched = new Watched<Profile>();
    const svc = logicalService({
      authority: 'payments.production.svc.cluster.local:8080',
      profile: watched,
      profileTimeoutMs: 1_000,
      concrete: () => async () => response(200),
    });
    const started = performance.now();
    expect((await svc(meshRequest())).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    // Half the timeout: a margin a loaded machine cannot eat (a wait would take the whole second).
    const next = performance.now();
    expect((await svc(meshRequest())).status).toBe(200);
    expect(performance.now() - next).toBeLessThan(500);
    // When the profile does come, it applies.
    watched.set(retryingProfile());
    expect((await svc(meshRequest({ path: '/charge' }))).status).toBe(200);
  });
});
