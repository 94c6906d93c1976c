// An inbound proxy on an IPv6 address (::1) with a plaintext caller on ::1, over real sockets:
// the edge writes the caller as [::1]:port, so authorization reads its IP as ::1 (written bare,
// `::1:41000` is itself an IPv6 address, another one), and a NetworkAuthentication for ::1/128
// admits it while one for another IPv6 network refuses it, naming the caller's IP.
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundPolicy } from '../../../api/destination-types.ts';
import { createLogger } from '../../../api/log.ts';
import { headerValue } from '../../../proxy/http/message.ts';
import { authorizePorts } from '../../../proxy/inbound/authorize.ts';
import { targetPort } from '../../../proxy/inbound/stack.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';

const resolver = new TestResolver();
let app: App;
let inbound: RunningProxy;
let appPort: number;

/** A Server on the app's port that admits unauthenticated callers from `networks` only. */
function onlyFrom(port: number, networks: string[]): InboundPolicy {
  return {
    port,
    server: { name: 'production/web', protocol: 'HTTP/1', accessPolicy: 'deny' },
    authorizations: [{ name: 'NetworkAuthentication production/callers', authentication: { unauthenticated: true, identities: [], identitySuffixes: [], networks } }],
    defaultPolicy: 'deny',
    clusterNetworks: [],
  };
}

beforeAll(async () => {
  app = await startApp('::1', (_q, res) => res.end('hello'));
  appPort = (app.server.address() as AddressInfo).port;
  const authorize = authorizePorts(
    (port) => resolver.inboundPolicy(port),
    (req) => targetPort(headerValue(req.headers, 'l5d-dst-port'), appPort),
    { registry: new Registry(), logger: createLogger('authz', { level: 'silent' }), podIp: '::1' },
  );
  inbound = await startProxy('::1', resolver, { authorize, args: ['--app-port', String(appPort)] });
});

afterAll(async () => {
  await inbound?.close();
  await app?.close();
});

/** A plaintext GET from ::1 straight to the inbound port. */
async function get(): Promise<{ status: number; error: string; body: string }> {
  const res = await request(`http://[::1]:${inbound.inboundPort}/hello`, { headers: { host: 'web.production.svc.cluster.local' } });
  return { status: res.statusCode, error: String(res.headers['l5d-proxy-error'] ?? ''), body: await res.body.text() };
}

describe('an IPv6 caller of the inbound proxy', () => {
  it('is admitted by a NetworkAuthentication for its own address (::1/128)', async () => {
    resolver.inboundPolicy(appPort).set(onlyFrom(appPort, ['::1/128']));
    expect(await get()).toMatchObject({ status: 200, body: 'hello' });
  });

  it('is refused by one for another IPv6 network, the refusal naming its IP as ::1', async () => {
    resolver.inboundPolicy(appPort).set(onlyFrom(appPort, ['fd00::/8']));
    const refused = await get();
    expect(refused.status).toBe(403);
    expect(refused.error).toContain('does not authorize unauthenticated client ::1 (no client certificate)');
  });
});
