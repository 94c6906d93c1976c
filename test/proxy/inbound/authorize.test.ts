// Inbound authorization: the lesson's orders-grpc Server, default policies, networks, route-scoped
// policies, probes, opaque TCP, counters and denial logs.
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { InboundPolicy } from '../../../api/destination-types.ts';
import { Watched } from '../../../proxy/discovery/watched.ts';
import { authorize } from '../../../proxy/inbound/authorize.ts';
import { decide } from '../../../proxy/inbound/authz/decide.ts';
import { hostOfAddress } from '../../../api/host-port.ts';
import { parseNetwork } from '../../../proxy/inbound/authz/cidr.ts';
import { meshRequest, response } from '../../helpers/fake-request.ts';

const CHECKOUT = 'spiffe://cluster.local/ns/production/sa/checkout';
const PAYMENTS = 'spiffe://cluster.local/ns/production/sa/payments';

const ordersGrpc: InboundPolicy = {
  port: 9090,
  server: { name: 'production/orders-grpc', protocol: 'gRPC' },
  authorizations: [
    {
      name: 'ServerAuthorization production/orders-grpc-allow-checkout',
      authentication: { unauthenticated: false, identities: [CHECKOUT], identitySuffixes: [], networks: [] },
    },
  ],
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['127.0.0.0/8'],
};

const defaults = (p: InboundPolicy['defaultPolicy']): InboundPolicy => ({ port: 8080, authorizations: [], defaultPolicy: p, clusterNetworks: ['127.0.26.0/24'] });

function harness(policy: InboundPolicy, podIp = '127.0.26.5') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c))), cb()) }));
  const registry = new Registry();
  const watched = new Watched(policy);
  const svc = authorize(watched, { registry, logger, podIp })(async () => response(200));
  const call = (ctx: { identity?: string; peer?: string }, init: { method?: string; path?: string } = {}) =>
    svc(meshRequest({ ...init, ctx: { direction: 'inbound', tls: ctx.identity !== undefined, clientIdentity: ctx.identity, peer: ctx.peer ?? '127.0.26.9:5000', grpc: true } }));
  return { call, registry, lines, watched };
}

describe('inbound authorization', () => {
  it('the orders-grpc Server admits checkout and refuses other identities and plaintext, with the reason', async () => {
    const h = harness(ordersGrpc);
    expect((await h.call({ identity: CHECKOUT })).status).toBe(200);
    const denied = await h.call({ identity: PAYMENTS }).catch((e) => e);
    expect(denied).toMatchObject({ code: 'FORBIDDEN', grpcStatus: 7 });
    expect(denied.message).toBe(`port 9090: Server production/orders-grpc does not authorize client ${PAYMENTS} (127.0.26.9)`);
    await expect(h.call({})).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('no client certificate') });
    const text = await h.registry.metrics();
    expect(text).toContain('inbound_http_authz_allow_total{server="production/orders-grpc",authz="ServerAuthorization production/orders-grpc-allow-checkout",port="9090"} 1');
    expect(text).toContain('inbound_http_authz_deny_total{server="production/orders-grpc",reason="unauthorized",port="9090"} 1');
    expect(text).toContain('inbound_http_authz_deny_total{server="production/orders-grpc",reason="unauthenticated",port="9090"} 1');
    expect(h.lines.filter((l) => String(l.msg).startsWith('denied:'))).toHaveLength(2);
    expect(h.lines[0]).toMatchObject({ server: 'production/orders-grpc', port: 9090, client: PAYMENTS });
  });

  it('applies a policy edit to the next request', async () => {
    const h = harness(ordersGrpc);
    await expect(h.call({ identity: PAYMENTS })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const edited = structuredClone(ordersGrpc);
    edited.authorizations[0]!.authentication.identities.push(PAYMENTS);
    h.watched.set(edited);
    expect((await h.call({ identity: PAYMENTS })).status).toBe(200);
  });

  it.each([
    ['all-unauthenticated', {}, true],
    ['all-unauthenticated', { identity: CHECKOUT }, true],
    ['all-authenticated', {}, false],
    ['all-authenticated', { identity: CHECKOUT }, true],
    ['cluster-authenticated', { identity: CHECKOUT }, true],
    ['cluster-authenticated', { identity: CHECKOUT, peer: '10.1.2.3:999' }, false],
    ['cluster-authenticated', {}, false],
    ['deny', { identity: CHECKOUT }, false],
  ] as const)('default %s with %j -> allowed %s', async (policy, caller, allowed) => {
    const h = harness(defaults(policy));
    const result = await h.call(caller).then(() => true, () => false);
    expect(result).toBe(allowed);
  });

  it('matches wildcard identities, suffixes, and networks', async () => {
    const base = structuredClone(ordersGrpc);
    const auth = base.authorizations[0]!.authentication;
    auth.identities = [];
    auth.identitySuffixes = ['*.production.serviceaccount.identity.linkerd.cluster.local'];
    let h = harness(base);
    expect((await h.call({ identity: PAYMENTS })).status).toBe(200);
    await expect(h.call({ identity: 'spiffe://cluster.local/ns/staging/sa/x' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    auth.identitySuffixes = [];
    auth.identities = ['*'];
    auth.networks = ['127.0.26.0/28'];
    h = harness(base);
    expect((await h.call({ identity: PAYMENTS, peer: '127.0.26.3:1' })).status).toBe(200);
    await expect(h.call({ identity: PAYMENTS, peer: '127.0.26.200:1' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    auth.identities = [];
    auth.networks = ['10.0.0.0/8']; // NetworkAuthentication alone admits plaintext from the network
    h = harness(base);
    expect((await h.call({ peer: '10.9.9.9:1' })).status).toBe(200);
    await expect(h.call({ peer: '11.0.0.1:1' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('route-scoped authorizations apply only to requests their route matches', async () => {
    const p = structuredClone(ordersGrpc);
    p.authorizations.push({
      name: 'AuthorizationPolicy production/public-health',
      authentication: { unauthenticated: true, identities: [], identitySuffixes: [], networks: [] },
      routeMatches: [{ path: { type: 'Exact', value: '/public' }, method: 'GET' }],
    });
    const h = harness(p);
    expect((await h.call({}, { path: '/public' })).status).toBe(200);
    await expect(h.call({}, { path: '/private' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // A connection has no request to match (proxy/inbound/tunnel-authz.ts decides without one).
    expect(decide(p, { ip: '127.0.26.9', tls: false })).toMatchObject({ allowed: false });
  });

  it('admits plaintext probe GETs from the pod itself or localhost, not from elsewhere', async () => {
    const h = harness(defaults('deny'));
    expect((await h.call({ peer: '127.0.26.5:3000' }, { path: '/ready' })).status).toBe(200);
    expect((await h.call({ peer: '127.0.0.1:3000' }, { path: '/live?x=1' })).status).toBe(200);
    await expect(h.call({ peer: '127.0.26.6:3000' }, { path: '/ready' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(h.call({ peer: '127.0.26.5:3000' }, { method: 'POST', path: '/ready' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('authorizes opaque TCP connections (decided with no request, as proxy/inbound/tunnel-authz.ts does)', () => {
    expect(decide(ordersGrpc, { ip: '127.0.26.9', identity: CHECKOUT, tls: true })).toEqual({ allowed: true, server: 'production/orders-grpc', authz: 'ServerAuthorization production/orders-grpc-allow-checkout' });
    const refused = decide(ordersGrpc, { ip: '127.0.26.9', tls: false });
    expect(refused).toMatchObject({ allowed: false, message: expect.stringContaining('Server production/orders-grpc') });
  });

  it('parses CIDRs for IPv4, IPv6 and v4-mapped peers, and rejects bad ones precisely', () => {
    expect(parseNetwork('10.0.0.0/8').contains('10.200.1.1')).toBe(true);
    expect(parseNetwork('10.0.0.0/8').contains('::ffff:10.0.0.1')).toBe(true);
    expect(parseNetwork('10.0.0.0/8').contains('::ffff:a00:1')).toBe(true);
    expect(parseNetwork('fd00::/8').contains('fd12::1')).toBe(true);
    expect(parseNetwork('fd00::/8').contains('fe00::1')).toBe(false);
    expect(parseNetwork('0.0.0.0/0').contains('1.2.3.4')).toBe(true);
    // An IPv6 network holds no IPv4 peer, an IPv4-mapped one included, and the reverse.
    expect(parseNetwork('::/0').contains('1.2.3.4')).toBe(false);
    expect(parseNetwork('::/0').contains('::ffff:1.2.3.4')).toBe(false);
    expect(parseNetwork('::ffff:1.2.3.4/8').contains('1.2.3.4')).toBe(false);
    expect(parseNetwork('0.0.0.0/0').contains('fd00::1')).toBe(false);
    expect(() => parseNetwork('10.0.0.0/33')).toThrow('"10.0.0.0/33": the prefix length of an IPv4 network is 0 to 32');
    expect(() => parseNetwork('banana')).toThrow('"banana" is not an IPv4 or IPv6 address or CIDR');
    expect(hostOfAddress('[::1]:443')).toBe('::1');
    expect(hostOfAddress('127.0.26.1:80')).toBe('127.0.26.1');
  });
});
