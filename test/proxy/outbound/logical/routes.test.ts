// Route matching: ServiceProfile conditions (anchored regex, all/any/not), response classes,
// and Gateway API HTTPRoute match semantics and precedence.
import { describe, expect, it } from 'vitest';
import type { Profile } from '../../../../api/destination-types.ts';
import { compileMatch, compareRank } from '../../../../proxy/http/route-match.ts';
import { compileRouteTable } from '../../../../proxy/outbound/logical/route-table.ts';
import { compileProfileRoute } from '../../../../proxy/outbound/logical/service-profile.ts';

const lessonProfile: Profile = {
  fqdn: 'orders.production.svc.cluster.local',
  routes: [
    {
      name: 'POST /orders',
      condition: { all: [{ method: 'POST' }, { pathRegex: '/orders' }] },
      responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }],
      timeoutMs: 500,
      isRetryable: false,
    },
    {
      name: 'GET /orders/{id}',
      condition: { all: [{ method: 'GET' }, { pathRegex: '/orders/[^/]+' }] },
      responseClasses: [],
      timeoutMs: 200,
      isRetryable: true,
    },
  ],
  retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
  httpRoutes: [],
};

const req = (method: string, path: string, headers = {}) => ({ method, path, headers });

describe('ServiceProfile routes', () => {
  const table = compileRouteTable(lessonProfile);

  it('matches method and an anchored path regex, ignoring the query', () => {
    expect(table.select(req('POST', '/orders')).name).toBe('POST /orders');
    expect(table.select(req('POST', '/orders?x=1')).name).toBe('POST /orders');
    expect(table.select(req('POST', '/orders/7')).name).toBeUndefined(); // anchored: no prefix match
    expect(table.select(req('GET', '/orders/7')).name).toBe('GET /orders/{id}');
    expect(table.select(req('GET', '/orders/7/items')).name).toBeUndefined();
    expect(table.select(req('GET', '/x/orders/7')).name).toBeUndefined();
  });

  it('carries timeout and retryability', () => {
    const get = table.select(req('GET', '/orders/7'));
    expect(get.requestTimeoutMs).toBe(200);
    expect(get.retry?.shouldRetry(503, undefined)).toBe(true);
    expect(table.select(req('POST', '/orders')).retry).toBeUndefined();
  });

  it('nests any and not', () => {
    const r = compileProfileRoute(
      { name: 'r', condition: { any: [{ method: 'PUT' }, { not: { pathRegex: '/a.*' } }] }, responseClasses: [], timeoutMs: 0, isRetryable: false },
      'test',
    );
    expect(r.matches(req('PUT', '/abc'))).toBe(true);
    expect(r.matches(req('GET', '/abc'))).toBe(false);
    expect(r.matches(req('GET', '/b'))).toBe(true);
  });

  it('classifies responses by the first matching class, else 5xx / gRPC not OK', () => {
    const r = compileProfileRoute(
      {
        name: 'r',
        condition: { method: 'GET' },
        responseClasses: [
          { condition: { status: { min: 500, max: 502 } }, isFailure: false },
          { condition: { status: { min: 400, max: 499 } }, isFailure: true },
        ],
        timeoutMs: 0,
        isRetryable: false,
      },
      'test',
    );
    expect(r.isFailure(501, undefined)).toBe(false);
    expect(r.isFailure(404, undefined)).toBe(true);
    expect(r.isFailure(503, undefined)).toBe(true);
    expect(r.isFailure(200, 14)).toBe(true);
    expect(r.isFailure(200, 0)).toBe(false);
  });

  it('names the route and field when a regex does not compile', () => {
    const bad = { ...lessonProfile, routes: [{ ...lessonProfile.routes[0]!, condition: { pathRegex: '/orders/(' } }] };
    expect(() => compileRouteTable(bad)).toThrow(/routes\[0\] \(POST \/orders\)\.condition\.pathRegex.*does not compile/);
  });
});

describe('HTTPRoute matches (Gateway API)', () => {
  it('PathPrefix matches whole segments; Exact matches exactly', () => {
    const prefix = compileMatch({ path: { type: 'PathPrefix', value: '/foo' } }, 't');
    expect(prefix.test(req('GET', '/foo'))).toBe(true);
    expect(prefix.test(req('GET', '/foo/bar?q=1'))).toBe(true);
    expect(prefix.test(req('GET', '/foobar'))).toBe(false);
    const exact = compileMatch({ path: { type: 'Exact', value: '/foo' } }, 't');
    expect(exact.test(req('GET', '/foo?x'))).toBe(true);
    expect(exact.test(req('GET', '/foo/'))).toBe(false);
  });

  it('matches headers, query params and method together', () => {
    const m = compileMatch(
      {
        method: 'post',
        headers: [{ name: 'X-Canary', value: 'true', type: 'Exact' }],
        queryParams: [{ name: 'v', value: '[0-9]+', type: 'RegularExpression' }],
      },
      't',
    );
    expect(m.test(req('POST', '/a?v=12', { 'x-canary': 'true' }))).toBe(true);
    expect(m.test(req('POST', '/a?v=1x', { 'x-canary': 'true' }))).toBe(false);
    expect(m.test(req('GET', '/a?v=12', { 'x-canary': 'true' }))).toBe(false);
    expect(m.test(req('POST', '/a?v=12', {}))).toBe(false);
  });

  it('ranks Exact over regex over longer prefix over shorter prefix, then method, headers, query', () => {
    const rank = (m: Parameters<typeof compileMatch>[0]) => compileMatch(m, 't').rank;
    expect(compareRank(rank({ path: { type: 'Exact', value: '/a' } }), rank({ path: { type: 'PathPrefix', value: '/a/b/c' } }))).toBeGreaterThan(0);
    expect(compareRank(rank({ path: { type: 'PathPrefix', value: '/a/b' } }), rank({ path: { type: 'PathPrefix', value: '/a' } }))).toBeGreaterThan(0);
    expect(compareRank(rank({ method: 'GET' }), rank({}))).toBeGreaterThan(0);
    expect(compareRank(rank({ method: 'GET', headers: [{ name: 'a', value: 'b', type: 'Exact' }] }), rank({ method: 'GET' }))).toBeGreaterThan(0);
  });

  it('picks the most specific rule across routes and falls back to the catch-all rule', () => {
    const table = compileRouteTable({
      fqdn: 'orders.production.svc.cluster.local',
      routes: [],
      httpRoutes: [
        {
          name: 'production/orders-canary',
          rules: [
            { matches: [], backends: [{ authority: 'stable:8080', weight: 1 }], requestTimeoutMs: 0, backendTimeoutMs: 0 },
            {
              matches: [{ path: { type: 'PathPrefix', value: '/orders' } }],
              backends: [{ authority: 'orders-prefix:8080', weight: 1 }],
              requestTimeoutMs: 300,
              backendTimeoutMs: 100,
              retry: { httpStatuses: [{ min: 500, max: 599 }], grpcStatuses: ['UNAVAILABLE'], limit: 2, timeoutMs: 50 },
            },
          ],
        },
      ],
    });
    const orders = table.select(req('GET', '/orders/1'));
    expect(orders.backends?.[0]?.authority).toBe('orders-prefix:8080');
    expect(orders.requestTimeoutMs).toBe(300);
    expect(orders.attemptTimeoutMs).toBe(50); // the sooner of backendRequest and retry timeout
    expect(orders.retry?.limit).toBe(2);
    expect(orders.retry?.shouldRetry(200, 14)).toBe(true);
    expect(orders.retry?.shouldRetry(200, 13)).toBe(false);
    expect(orders.retry?.shouldRetry(503, undefined)).toBe(true);
    // The route label names the rule: the HTTPRoute has two, which differ in backends and timeouts.
    expect(orders.name).toBe('production/orders-canary#1');
    const other = table.select(req('GET', '/other'));
    expect(other.backends?.[0]?.authority).toBe('stable:8080');
    expect(other.name).toBe('production/orders-canary#0');
  });
});
