// Refusals on both sides of the proxy-to-proxy hop: a peer whose certificate comes from another
// trust anchor, has expired, or carries the wrong identity is refused by the outbound side (as a
// server) and by the inbound side (as a client), each with a reason an operator can act on.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productionId as id, testPki } from '../../helpers/pki.ts';
import { devResources, type Doc } from '../../helpers/dev-resources.ts';
import { controlPlane, eventually, handMadeCredentials, proxyArgs, startPodApp, startProxy, stopMesh, type ControlPlane, type PodApp, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOUR = 3_600_000;
const expired = { nowMs: Date.now() - 2 * HOUR, lifetimeMs: HOUR };

let cp: ControlPlane;
const apps: PodApp[] = [];
const proxies: RunningProxy[] = [];
let file: string;
const servers: Record<string, RunningProxy> = {};
const clients: Record<string, RunningProxy> = {};

/** Where each server pod runs: all of them promise the orders identity, whatever they present. */
const SERVER_PODS = { good: `${NET}.41`, 'other-anchor': `${NET}.42`, expired: `${NET}.43`, 'wrong-identity': `${NET}.44` };

/** What the client proxies are told: every pod is "orders", behind a Service of its own name. */
function endpoints(): string {
  const docs = Object.entries(SERVER_PODS).flatMap(([name, ip]) => {
    const pod = { name, ip, inboundPort: servers[name]?.inboundPort ?? 4143, identity: id('orders'), labels: { role: 'orders' } };
    return JSON.parse(devResources(pod, [{ authority: `${name}.production.svc.cluster.local:8080`, port: 8080 }])).items as Doc[];
  });
  // Only checkout may call the orders app.
  const server = { apiVersion: 'policy.linkerd.io/v1beta1', kind: 'Server', metadata: { name: 'orders-http', namespace: 'production' }, spec: { podSelector: { matchLabels: { role: 'orders' } }, port: 8080, proxyProtocol: 'HTTP/1' } };
  const authz = { apiVersion: 'policy.linkerd.io/v1beta1', kind: 'ServerAuthorization', metadata: { name: 'checkout', namespace: 'production' }, spec: { server: { name: 'orders-http' }, client: { meshTLS: { identities: [id('checkout')] } } } };
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...docs, server, authz] });
}

async function server(name: string, ip: string, sa: string, credentials?: Parameters<typeof startProxy>[1]): Promise<void> {
  apps.push(await startPodApp(ip, 8080, name));
  const args = credentials ? ['--pod-ip', ip, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0'] : proxyArgs(cp, { name, serviceAccount: sa, ip });
  const p = await startProxy([...args, '--endpoints-file', file, '--app-port', '8080'], credentials);
  proxies.push(p);
  servers[name] = p;
}

async function client(name: string, ip: string, sa: string, credentials?: Parameters<typeof startProxy>[1]): Promise<void> {
  const args = credentials ? ['--pod-ip', ip, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0'] : proxyArgs(cp, { name, serviceAccount: sa, ip });
  const p = await startProxy([...args, '--endpoints-file', file, '--pod-namespace', 'production'], credentials);
  proxies.push(p);
  clients[name] = p;
}

beforeAll(async () => {
  cp = await controlPlane();
  await cp.startIdentity(`${NET}.40:0`);
  file = join(cp.dir, 'endpoints.json');
  writeFileSync(file, endpoints());
  const otherAnchor = await testPki();
  await server('good', SERVER_PODS.good, 'orders');
  await server('other-anchor', SERVER_PODS['other-anchor'], 'orders', await otherAnchor.credentialsFor(id('orders')));
  await server('expired', SERVER_PODS.expired, 'orders', await handMadeCredentials(cp.ca, id('orders'), expired));
  await server('wrong-identity', SERVER_PODS['wrong-identity'], 'payments');
  writeFileSync(file, endpoints());
  await client('checkout', `${NET}.45`, 'checkout');
  await client('expired-client', `${NET}.46`, 'checkout', await handMadeCredentials(cp.ca, id('checkout'), expired));
  await client('payments', `${NET}.47`, 'payments');
  await eventually(async () => (await Promise.all(proxies.map((p) => p.ready()))).every((r) => r.status === 200), 15_000, 'every proxy ready');
}, 120_000); // seven proxies and their RSA keys: beside another suite on this machine, over 30 s

afterAll(() => stopMesh({ cp, proxies, apps }));

async function call(via: RunningProxy, service: string): Promise<{ status: number; error?: string; body: string }> {
  const pool = new Pool(`http://${via.ip}:${via.outboundPort}`);
  try {
    const res = await pool.request({ path: '/', method: 'GET', headers: { host: `${service}.production.svc.cluster.local:8080` } });
    return { status: res.statusCode, error: res.headers['l5d-proxy-error'] as string | undefined, body: await res.body.text() };
  } finally {
    await pool.close();
  }
}

describe('the outbound side refuses a server that cannot prove the identity discovery gave', () => {
  it('the good server is reached', async () => {
    const r = await call(clients['checkout']!, 'good');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ pod: 'good', clientId: id('checkout') });
  });

  it('a server with a certificate from another trust anchor: 502, and the app never sees the request', async () => {
    const r = await call(clients['checkout']!, 'other-anchor');
    expect(r.status).toBe(502);
    expect(r.error).toMatch(/certificate|self.signed|issuer/i);
    expect(apps[1]!.seen).toEqual([]);
  });

  it('a server with an expired certificate: 502 naming the expiry', async () => {
    const r = await call(clients['checkout']!, 'expired');
    expect(r.status).toBe(502);
    expect(r.error).toMatch(/expired/i);
    expect(apps[2]!.seen).toEqual([]);
  });

  it('a server presenting another identity: 502 naming the expected and the presented identity', async () => {
    const r = await call(clients['checkout']!, 'wrong-identity');
    expect(r.status).toBe(502);
    expect(r.error).toContain(id('orders'));
    expect(r.error).toContain(id('payments'));
    expect(apps[3]!.seen).toEqual([]);
  });
});

describe('the inbound side refuses a client that cannot prove an allowed identity', () => {
  it('a client proxy with an expired certificate: the handshake is refused and logged, the app sees nothing', async () => {
    const before = apps[0]!.seen.length;
    const r = await call(clients['expired-client']!, 'good');
    expect(r.status).toBe(502);
    expect(apps[0]!.seen.length).toBe(before);
    await eventually(() => servers['good']!.logs.some((l) => /TLS connection from .* refused: client certificate for spiffe:\/\/cluster.local\/ns\/production\/sa\/checkout not accepted: CERT_HAS_EXPIRED/.test(String(l.msg))), 3_000, 'the inbound log of the refused handshake');
  });

  it('a client with a certificate from another trust anchor: the inbound side refuses the handshake', async () => {
    const otherAnchor = await testPki();
    const creds = (await otherAnchor.credentialsFor(id('checkout'))).current();
    const good = servers['good']!;
    // A raw TLS client that trusts the server (so only the server's check can fail) and presents the foreign certificate.
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host: good.ip, port: good.inboundPort, ...creds, ca: cp.ca.material.trustAnchorsPem, servername: 'localhost', ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' });
      socket.on('secureConnect', () => socket.write(`GET / HTTP/1.1\r\nhost: x\r\nl5d-dst-port: 8080\r\n\r\n`));
      socket.on('data', (d: Buffer) => resolve(`answered: ${d.toString().split('\r\n')[0]}`));
      socket.on('error', (err) => resolve(`refused: ${err.message}`));
      socket.on('close', () => resolve('closed'));
    });
    expect(outcome).not.toMatch(/^answered/);
    expect(apps[0]!.seen.every((s) => s.clientId === id('checkout'))).toBe(true);
    await eventually(() => good.logs.some((l) => l.reason === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || l.reason === 'UNABLE_TO_GET_ISSUER_CERT'), 3_000, 'the inbound log naming the unknown issuer');
  });

  it('a client with a valid certificate but an identity the Server does not authorize: 403 naming it, counted', async () => {
    const r = await call(clients['payments']!, 'good');
    expect(r.status).toBe(403);
    expect(r.error).toContain(id('payments'));
    const m = await servers['good']!.metrics();
    expect(m).toMatch(/inbound_http_authz_deny_total\{[^}]*server="production\/orders-http"[^}]*reason="unauthorized"[^}]*\} [1-9]/);
    expect(servers['good']!.logs.some((l) => l.level === 'warn' && l.client === id('payments') && l.server === 'production/orders-http')).toBe(true);
  });
});
