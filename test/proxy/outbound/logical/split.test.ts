// The logical service: weighted traffic split over HTTPRoute backends, live weight changes, route
// labels, and keeping the last good profile when a bad one arrives.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { EndpointSet, Profile } from '../../../../api/destination-types.ts';
import { CountedWatched } from '../../../../proxy/discovery/counted-watched.ts';
import { Watched } from '../../../../proxy/discovery/watched.ts';
import { failoverMessage } from '../../../../proxy/outbound/logical/backend-split.ts';
import { createLogicalService, type LogicalTarget } from '../../../../proxy/outbound/logical/index.ts';
import { routeStack } from '../../../../proxy/outbound/stack.ts';
import { ProxyMetrics } from '../../../../proxy/metrics/proxy-metrics.ts';
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
  return createLogicalService({ ...target, route: routeStack({ authority: target.authority, concrete: target.concrete }) }).service;
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

describe('failover', () => {
  const stableName = 'orders-stable.production.svc.cluster.local:8080';
  const canaryName = 'orders-canary.production.svc.cluster.local:8080';

  const endpointSet = (n: number): EndpointSet => ({ kind: 'endpoints', endpoints: Array.from({ length: n }, (_, i) => ({ address: `127.0.0.${i + 1}:8080`, weight: 1, labels: {} })) });

  function failoverHarness(profile: Profile) {
    const hits = new Map<string, number>();
    // Discovery's cells, as the destination client hands them out: counted subscribers, and a
    // count of how often each backend's endpoints were asked for.
    const cells = new Map<string, CountedWatched<EndpointSet>>();
    const lookups = new Map<string, number>();
    const cellOf = (backend: string) => {
      let cell = cells.get(backend);
      if (!cell) cells.set(backend, (cell = new CountedWatched<EndpointSet>()));
      return cell;
    };
    const backendEndpoints = (backend: string) => {
      lookups.set(backend, (lookups.get(backend) ?? 0) + 1);
      return cellOf(backend);
    };
    const ready = {
      /** true: one ready endpoint; false: none (known empty); undefined: discovery has not answered. */
      set: (backend: string, up: boolean | undefined) => cellOf(backend).set(up === undefined ? { kind: 'unknown' } : endpointSet(up ? 1 : 0)),
    };
    const counted: Array<{ backend: string; state: string }> = [];
    // The proxy's own metrics too, to read failover_total as /metrics shows it.
    const proxyMetrics = new ProxyMetrics();
    const authority = 'orders.production.svc.cluster.local:8080';
    const concrete = (backend: string) => async () => {
      hits.set(backend, (hits.get(backend) ?? 0) + 1);
      return response(200);
    };
    const profileCell = new Watched(profile);
    // The proxy's own logger, its JSON lines kept as they would be written.
    const logged: Array<{ level: number; msg: string; backend?: string; down?: string[] }> = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (logged.push(JSON.parse(String(chunk))), cb()) }));
    const logical = createLogicalService({
      authority, profile: profileCell, concrete,
      route: routeStack({
        authority, concrete, backendEndpoints, logger,
        metrics: {
          retried: () => {},
          failover: (l) => {
            counted.push({ backend: l.backend, state: l.state });
            proxyMetrics.failover(l);
          },
        },
      }),
    });
    const send = async (n: number) => {
      hits.clear();
      for (let i = 0; i < n; i++) await logical.service(meshRequest());
      return { stable: hits.get(stableName) ?? 0, canary: hits.get(canaryName) ?? 0 };
    };
    return { ready, counted, logged, send, cells, lookups, logical, profileCell, exposition: () => proxyMetrics.text() };
  }

  it('gives a backend\'s weight to the others while its Service has no ready endpoints, counting each change once', async () => {
    const h = failoverHarness(splitProfile(90, 10));
    h.ready.set(canaryName, false); // canary's one pod is not Ready
    h.ready.set(stableName, true);
    expect(await h.send(500)).toEqual({ stable: 500, canary: 0 });
    h.ready.set(canaryName, true);
    const back = await h.send(2000);
    expect(back.canary).toBeGreaterThan(100);
    h.ready.set(stableName, false);
    expect(await h.send(300)).toEqual({ stable: 0, canary: 300 });
    // Unknown (discovery has not answered yet) is not "down": weights stay as written.
    h.ready.set(stableName, undefined);
    expect((await h.send(500)).stable).toBeGreaterThan(300);
    expect(h.counted).toEqual([
      { backend: canaryName, state: 'failed_over' },
      { backend: canaryName, state: 'restored' },
      { backend: stableName, state: 'failed_over' },
      { backend: stableName, state: 'restored' },
    ]);
  });

  it('asks discovery once per backend, not per request; a new profile version and an evicted target release the watches', async () => {
    const h = failoverHarness(splitProfile(90, 10));
    h.ready.set(stableName, true);
    h.ready.set(canaryName, true);
    await h.send(1000);
    // One lookup per backend when the route's split was built; none per request.
    expect(Object.fromEntries(h.lookups)).toEqual({ [stableName]: 1, [canaryName]: 1 });
    expect([h.cells.get(stableName)!.subscriberCount, h.cells.get(canaryName)!.subscriberCount]).toEqual([1, 1]);

    // An update reaches the split through its subscription, with no lookup.
    h.ready.set(canaryName, false);
    expect(await h.send(200)).toEqual({ stable: 200, canary: 0 });
    expect(Object.fromEntries(h.lookups)).toEqual({ [stableName]: 1, [canaryName]: 1 });

    // A new profile version builds new route stacks; the old split lets go of its watches.
    h.profileCell.set(splitProfile(50, 50));
    await h.send(10);
    expect([h.cells.get(stableName)!.subscriberCount, h.cells.get(canaryName)!.subscriberCount]).toEqual([1, 1]);
    expect(Object.fromEntries(h.lookups)).toEqual({ [stableName]: 2, [canaryName]: 2 });

    // The target evicted (or the proxy closing): nothing is left subscribed, so idle watches can stop.
    h.logical.release();
    expect([h.cells.get(stableName)!.subscriberCount, h.cells.get(canaryName)!.subscriberCount]).toEqual([0, 0]);
  });

  it('leaves no watch behind for a request that waited for the first profile while its target was evicted', async () => {
    const h = failoverHarness(splitProfile(90, 10));
    h.ready.set(stableName, true);
    h.ready.set(canaryName, true);
    const empty = new Watched<Profile>();
    const logical = createLogicalService({
      authority: 'orders.production.svc.cluster.local:8080', profile: empty, concrete: () => async () => response(200),
      route: routeStack({ authority: 'orders.production.svc.cluster.local:8080', concrete: () => async () => response(200), backendEndpoints: (b) => h.cells.get(b)! }),
    });
    const waiting = logical.service(meshRequest()); // no profile yet: it waits for the first one
    logical.release(); // evicted meanwhile (LRU past maxTargets)
    empty.set(splitProfile(90, 10));
    expect((await waiting).status).toBe(200);
    expect([h.cells.get(stableName)!.subscriberCount, h.cells.get(canaryName)!.subscriberCount]).toEqual([0, 0]);
  });

  it('shares equally among standby backends of weight 0, and keeps the weights when every backend is down', async () => {
    const h = failoverHarness(splitProfile(100, 0));
    h.ready.set(stableName, false);
    expect(await h.send(200)).toEqual({ stable: 0, canary: 200 });
    h.ready.set(canaryName, false);
    expect(await h.send(100)).toEqual({ stable: 100, canary: 0 });
  });

  it('logs what each change does to the traffic: where the weight goes, nowhere when every backend is down, a backend back while another is still down', async () => {
    const h = failoverHarness(splitProfile(90, 10));
    h.ready.set(stableName, true);
    h.ready.set(canaryName, true);
    await h.send(10);
    h.ready.set(canaryName, false);
    expect(await h.send(100)).toEqual({ stable: 100, canary: 0 });
    h.ready.set(stableName, false); // every backend down: nowhere to send, the weights as written
    expect((await h.send(500)).canary).toBeGreaterThan(0);
    h.ready.set(canaryName, true); // canary back, stable still down: all of it to canary
    expect(await h.send(100)).toEqual({ stable: 0, canary: 100 });
    h.ready.set(stableName, true);
    expect((await h.send(500)).canary).toBeLessThan(500);
    const warnings = h.logged.filter((l) => l.level === 40);
    expect(warnings.map((l) => l.msg)).toEqual([
      `failover: ${canaryName} has no ready endpoints; its weight goes to ${stableName} (${stableName}=90, ${canaryName}=0)`,
      `failover: ${stableName} has no ready endpoints, nor have the other backends (${canaryName}): nowhere to fail over to, so the weights stay as written (${stableName}=90, ${canaryName}=10) and the rule's requests fail until a backend has endpoints again`,
      `failover: ${canaryName} has ready endpoints again; ${stableName} still has none; its weight goes to ${canaryName} (${stableName}=0, ${canaryName}=10)`,
      `failover: ${stableName} has ready endpoints again; every backend has, weights as written (${stableName}=90, ${canaryName}=10)`,
    ]);
    expect(warnings.map((l) => [l.backend, l.down])).toEqual([[canaryName, [canaryName]], [stableName, [stableName, canaryName]], [canaryName, [stableName]], [stableName, []]]);
  });

  it('counts where each backend\'s weight goes: no backend to fail over to is all_down, not a fail-over; one coming back takes the stranded weight', async () => {
    const h = failoverHarness(splitProfile(90, 10));
    h.ready.set(stableName, true);
    h.ready.set(canaryName, true);
    await h.send(10);
    h.ready.set(canaryName, false); // canary's weight goes to stable
    expect(await h.send(50)).toEqual({ stable: 50, canary: 0 });
    h.ready.set(stableName, false); // nobody has endpoints: both weights stay as written, nothing fails over
    expect((await h.send(300)).canary).toBeGreaterThan(0);
    h.ready.set(canaryName, true); // canary back: its own weight, and stable's too
    expect(await h.send(50)).toEqual({ stable: 0, canary: 50 });
    h.ready.set(stableName, true);
    expect(h.counted).toEqual([
      { backend: canaryName, state: 'failed_over' },
      { backend: stableName, state: 'all_down' },
      { backend: canaryName, state: 'all_down' },
      { backend: stableName, state: 'failed_over' },
      { backend: canaryName, state: 'restored' },
      { backend: stableName, state: 'restored' },
    ]);
    const text = await h.exposition();
    const count = (backend: string, state: string) => Number(new RegExp(`^failover_total\\{[^}]*backend="${backend.replace(/\./g, '\\.')}"[^}]*state="${state}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect([count(stableName, 'failed_over'), count(stableName, 'all_down'), count(stableName, 'restored')]).toEqual([1, 1, 1]);
    expect([count(canaryName, 'failed_over'), count(canaryName, 'all_down'), count(canaryName, 'restored')]).toEqual([1, 1, 1]);
  });

  it('counts a backend whose only other is a standby (weight 0) as failed over, and as all_down once the standby is down too', async () => {
    const h = failoverHarness(splitProfile(100, 0));
    h.ready.set(canaryName, true);
    h.ready.set(stableName, false);
    expect(await h.send(20)).toEqual({ stable: 0, canary: 20 });
    h.ready.set(canaryName, false);
    expect(await h.send(20)).toEqual({ stable: 20, canary: 0 });
    // The standby carries no weight of its own: nothing of it is counted.
    expect(h.counted).toEqual([
      { backend: stableName, state: 'failed_over' },
      { backend: stableName, state: 'all_down' },
    ]);
  });

  it('is off for a route that says failover.linkerd.io/enabled: "false"', async () => {
    const profile = splitProfile(90, 10);
    profile.httpRoutes[0]!.rules[0]!.failoverDisabled = true;
    const h = failoverHarness(profile);
    h.ready.set(canaryName, false);
    expect((await h.send(2000)).canary).toBeGreaterThan(100);
    expect(h.counted).toEqual([]);
  });

  it('says, with three backends, which others are down too, in the plural', () => {
    const weights = (a: number, b: number, c: number) => [{ authority: 'a', weight: a }, { authority: 'b', weight: b }, { authority: 'c', weight: c }];
    expect(failoverMessage({ backend: 'a', down: ['a', 'b', 'c'], weights: weights(50, 30, 20) })).toBe(
      "failover: a has no ready endpoints, nor have the other backends (b, c): nowhere to fail over to, so the weights stay as written (a=50, b=30, c=20) and the rule's requests fail until a backend has endpoints again",
    );
    expect(failoverMessage({ backend: 'a', down: ['b', 'c'], weights: weights(50, 0, 0) })).toBe(
      'failover: a has ready endpoints again; b, c still have none; their weight goes to a (a=50, b=0, c=0)',
    );
    expect(failoverMessage({ backend: 'b', down: ['b'], weights: weights(62.5, 0, 37.5) })).toBe(
      'failover: b has no ready endpoints; its weight goes to a, c (a=62.5, b=0, c=37.5)',
    );
  });
});
