// An inbound policy's networks as the proxy enforces them, over real sockets: a plaintext caller
// on its own loopback address, a real proxy and app. A network that is not a CIDR admits no one
// (`10.0.0.0/` is not a /0 that admits everyone), whether in an authorization or in the cluster's
// networks, and the others in the same list still apply, and the proxy warns of it once per
// policy; an IPv4-mapped IPv6 network is an IPv6 one, which holds no IPv4 caller.
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundPolicy } from '../../../api/destination-types.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';

const NET = await addressBlock();
const POD = `${NET}.10`;
const CALLER = `${NET}.20`;

const resolver = new TestResolver();
let app: App;
let inbound: RunningProxy;
let appPort: number;

/** A Server on the app's port that admits unauthenticated callers from `networks` only. */
function onlyFrom(networks: string[]): InboundPolicy {
  return {
    port: appPort,
    server: { name: 'production/web', protocol: 'HTTP/1', accessPolicy: 'deny' },
    authorizations: [{ name: 'NetworkAuthentication production/callers', authentication: { unauthenticated: true, identities: [], identitySuffixes: [], networks } }],
    defaultPolicy: 'deny',
    clusterNetworks: [],
  };
}

/** No Server: the default policy cluster-unauthenticated, with these cluster networks. */
function clusterOnly(clusterNetworks: string[]): InboundPolicy {
  return { port: appPort, authorizations: [], defaultPolicy: 'cluster-unauthenticated', clusterNetworks };
}

beforeAll(async () => {
  app = await startApp(POD, (_q, res) => res.end('hello'));
  appPort = (app.server.address() as AddressInfo).port;
  // The proxy's own authorization, from the resolver's policy for the app port.
  inbound = await startProxy(POD, resolver, { args: ['--app-port', String(appPort)] });
});

afterAll(async () => {
  await inbound?.close();
  await app?.close();
});

/** A plaintext GET from CALLER straight to the inbound port: the status. */
function get(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: POD, port: inbound.inboundPort, path: '/hello', localAddress: CALLER, agent: false, headers: { host: 'web.production.svc.cluster.local' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

describe("an inbound policy's networks, as the proxy enforces them", () => {
  it('admits a caller in a network of the authorization, and refuses one outside it', async () => {
    resolver.inboundPolicy(appPort).set(onlyFrom([`${NET}.0/24`]));
    expect(await get()).toBe(200);
    resolver.inboundPolicy(appPort).set(onlyFrom(['10.0.0.0/8']));
    expect(await get()).toBe(403);
  });

  it('reads 10.0.0.0/ as no network (not a /0 that admits everyone), the list\'s other entries still in force', async () => {
    resolver.inboundPolicy(appPort).set(onlyFrom(['10.0.0.0/']));
    expect(await get()).toBe(403);
    expect(await get()).toBe(403);
    // Said once for the policy (not per request), naming the authorization and the value.
    expect(inbound.logs.filter((l) => l['network'] === '10.0.0.0/').map((l) => l['msg'])).toEqual([
      'inbound policy: NetworkAuthentication production/callers: network "10.0.0.0/" admits no one (the rest of its list still applies): "10.0.0.0/" is not an IPv4 or IPv6 address or CIDR such as 10.244.0.254/32 or fd00::254/128 (an IPv4 one with no leading zeros: iptables reads 010 as octal 8)',
    ]);
    for (const bad of ['10.0.0.0/ 0', '10.0.0.0/0x0', `${NET}.20/1e1`, `[${CALLER}]`, `${CALLER}/32/8`]) {
      resolver.inboundPolicy(appPort).set(onlyFrom([bad]));
      expect(await get(), bad).toBe(403);
    }
    resolver.inboundPolicy(appPort).set(onlyFrom(['10.0.0.0/', `${CALLER}/32`]));
    expect(await get()).toBe(200);
  });

  it('reads an IPv4-mapped IPv6 network as IPv6, which holds no IPv4 caller', async () => {
    resolver.inboundPolicy(appPort).set(onlyFrom([`::ffff:${CALLER}/8`]));
    expect(await get()).toBe(403);
  });

  it('does not count a caller as in the cluster through a cluster network that is not a CIDR', async () => {
    resolver.inboundPolicy(appPort).set(clusterOnly(['10.0.0.0/']));
    expect(await get()).toBe(403);
    resolver.inboundPolicy(appPort).set(clusterOnly(['10.0.0.0/', `${NET}.0/24`]));
    expect(await get()).toBe(200);
  });
});
