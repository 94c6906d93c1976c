// What the outbound endpoint tier tells others about a hop: the HTTP metrics of a request sent
// over mTLS carry tls="true" and the server's identity, and the peer's inbound proxy sees this
// proxy's pod IP as the caller (so CIDR rules can tell pods apart), not 127.0.0.1.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundPolicy } from '../../../../api/destination-types.ts';
import { sourceAddressFor } from '../../../../proxy/transport/source-address.ts';
import { startHttp1App } from '../../../helpers/apps.ts';
import { testPki } from '../../../helpers/pki.ts';
import { startTwoProxies, type TwoProxies } from '../../../helpers/two-proxies.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../../helpers/proxy-harness.ts';
import { addressBlock } from '../../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
/** NET inside a regular expression. */
const NET_RE = NET.replaceAll('.', '\\.');

const WEB = 'web.test.svc.cluster.local:8080';

describe('outbound HTTP metrics over mTLS', () => {
  let web: Awaited<ReturnType<typeof startHttp1App>>;
  let mesh: TwoProxies;
  let serverId: string;

  beforeAll(async () => {
    const pki = await testPki();
    const client = await pki.credentialsFor('test/client');
    const server = await pki.credentialsFor('test/server');
    serverId = server.identity;
    web = await startHttp1App(`${NET}.2`);
    mesh = await startTwoProxies({ clientIp: `${NET}.1`, serverIp: `${NET}.2`, services: [{ authority: WEB, port: web.port }], mtls: { client, server } });
  });
  afterAll(async () => {
    await mesh?.close();
    await web?.close();
  });

  it('label response_total and response_latency_ms with tls="true" and the server identity', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(`${mesh.proxyUrl}/hello`, { headers: { host: WEB } });
      await res.body.text();
      expect(res.statusCode).toBe(200);
    }
    const lines = (await mesh.outbound.metrics()).split('\n').filter((l) => l.includes('direction="outbound"') && l.includes(`authority="${WEB}"`));
    const responses = lines.filter((l) => l.startsWith('response_total{'));
    expect(responses).toHaveLength(1);
    expect(responses[0]).toContain('tls="true"');
    expect(responses[0]).toContain(`server_id="${serverId}"`);
    expect(responses[0]).toMatch(/ 3$/);
    expect(lines.some((l) => l.startsWith('response_latency_ms_count{') && l.includes(`server_id="${serverId}"`))).toBe(true);
  });
});

describe('the pod IP as the source address', () => {
  const resolver = new TestResolver();
  let app: App;
  let server: RunningProxy;
  let allowed: RunningProxy;
  let other: RunningProxy;
  let policy: InboundPolicy;
  const AUTH = 'orders.test.svc.cluster.local:8080';

  beforeAll(async () => {
    app = await startApp(`${NET}.12`, (_req, res) => res.end('ok'));
    server = await startProxy(`${NET}.12`, resolver);
    const appPort = Number(app.address.split(':')[1]);
    // Only the pod at .11 may call; everyone else (127.0.0.1 included) is denied.
    policy = {
      port: appPort,
      server: { name: 'orders-http', protocol: 'HTTP/1' },
      authorizations: [
        {
          name: 'ServerAuthorization test/orders-from-web',
          authentication: { unauthenticated: true, identities: [], identitySuffixes: [], networks: [`${NET}.11/32`] },
        },
      ],
      defaultPolicy: 'deny',
      clusterNetworks: [],
    };
    resolver.inboundPolicy(appPort).set(policy);
    resolver.endpoints(AUTH).set({ kind: 'endpoints', endpoints: [{ address: app.address, inboundPort: server.inboundPort, weight: 1, labels: {} }] });
    allowed = await startProxy(`${NET}.11`, resolver);
    other = await startProxy(`${NET}.13`, resolver);
  });
  afterAll(async () => {
    await Promise.all([allowed?.close(), other?.close(), server?.close()]);
    await app?.close();
  });

  it('a networks rule admitting only the client pod /32 admits that pod and refuses another', async () => {
    const fromAllowed = await request(`${allowed.outboundUrl}/orders`, { headers: { host: AUTH } });
    expect(await fromAllowed.body.text()).toBe('ok');
    expect(fromAllowed.statusCode).toBe(200);
    const fromOther = await request(`${other.outboundUrl}/orders`, { headers: { host: AUTH } });
    await fromOther.body.text();
    expect(fromOther.statusCode).toBe(403);
    const denied = server.logs.find((l) => String(l.msg).startsWith('denied'));
    expect(denied?.peer).toMatch(new RegExp(String.raw`^${NET_RE}\.13:`));
  });

  it('a policy edit applies to the next request on the same pooled connection (decisions are cached per policy)', async () => {
    const ask = async () => {
      const res = await request(`${allowed.outboundUrl}/orders`, { headers: { host: AUTH } });
      await res.body.text();
      return res.statusCode;
    };
    expect(await ask()).toBe(200);
    const cell = resolver.inboundPolicy(policy.port);
    const auth = policy.authorizations[0]!;
    cell.set({ ...policy, authorizations: [{ ...auth, authentication: { ...auth.authentication, networks: [`${NET}.99/32`] } }] });
    try {
      expect(await ask()).toBe(403);
    } finally {
      cell.set(policy);
    }
    expect(await ask()).toBe(200);
  });

  it('binds only where the kernel can route from the pod IP', () => {
    expect(sourceAddressFor(`${NET}.11`, `${NET}.12`)).toBe(`${NET}.11`);
    expect(sourceAddressFor('10.1.2.3', '10.1.2.4')).toBe('10.1.2.3');
    expect(sourceAddressFor('fd00::3', 'fd00::4')).toBe('fd00::3');
    expect(sourceAddressFor(undefined, `${NET}.12`)).toBeUndefined();
    expect(sourceAddressFor('0.0.0.0', `${NET}.12`)).toBeUndefined();
    expect(sourceAddressFor('::', 'fd00::4')).toBeUndefined();
    expect(sourceAddressFor(`${NET}.11`, 'fd00::4')).toBeUndefined();
    expect(sourceAddressFor('fd00::3', '10.1.2.4')).toBeUndefined();
    expect(sourceAddressFor(`${NET}.11`, '10.1.2.4')).toBeUndefined();
    expect(sourceAddressFor('::1', '::1')).toBe('::1');
  });
});
