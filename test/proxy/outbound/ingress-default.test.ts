// The front door's default destination (`mesh proxy --ingress --ingress-default-dst ...`), with a
// real CA, a real destination and real proxies: a request whose Host is an IP or a name that is
// no mesh service goes to the default service over mTLS; a Host naming a mesh service and
// l5d-dst-override still choose. Addresses .100-119 of this run's own /24.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../proxy/config.ts';
import { controlPlane, eventually, metricValue, proxyArgs, startPodApp, startProxy, stopMesh, type ControlPlane, type PodApp, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';

const NET = await addressBlock();
const CHECKOUT = 'checkout.production.svc.cluster.local:8080';
const FRONT_IP = `${NET}.110`;

let cp: ControlPlane;
const proxies: RunningProxy[] = [];
const apps: PodApp[] = [];
let ingress: RunningProxy;
let front: Pool;

async function via(headers: Record<string, string>): Promise<{ status: number; pod?: string; clientId?: string; error?: string }> {
  const res = await front.request({ path: '/checkout', method: 'GET', headers });
  const text = await res.body.text();
  if (res.statusCode !== 200) return { status: res.statusCode, error: res.headers['l5d-proxy-error'] as string };
  const body = JSON.parse(text) as { pod: string; clientId: string };
  return { status: 200, pod: body.pod, clientId: body.clientId };
}

beforeAll(async () => {
  cp = await controlPlane({ fixtures: ['lesson'] });
  writeFileSync(join(cp.resourcesDir, 'checkout.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: checkout, namespace: production}\nspec:\n  selector: {app: checkout}\n  ports: [{port: 8080}]\n');
  await cp.startIdentity(`${NET}.100:0`);
  await cp.startDestination(`${NET}.100:0`);
  apps.push(await startPodApp(`${NET}.101`, 8080, 'checkout-1'), await startPodApp(`${NET}.102`, 8080, 'orders-stable-1'));
  proxies.push(await startProxy(proxyArgs(cp, { name: 'checkout-1', serviceAccount: 'checkout', ip: `${NET}.101`, labels: { app: 'checkout' }, ports: ['8080'] })));
  proxies.push(await startProxy(proxyArgs(cp, { name: 'orders-stable-1', serviceAccount: 'orders', ip: `${NET}.102`, labels: { app: 'orders', track: 'stable' }, ports: ['http:8080'] })));
  // The front door: its own pod address for inbound and admin, the user-facing listener apart.
  ingress = await startProxy([
    ...proxyArgs(cp, { name: 'ingress-1', serviceAccount: 'ingress', ip: `${NET}.103`, labels: { app: 'ingress' } }),
    '--ingress', '--outbound-ip', FRONT_IP, '--ingress-default-dst', CHECKOUT,
  ]);
  proxies.push(ingress);
  front = new Pool(`http://${FRONT_IP}:${ingress.outboundPort}`, { connections: 4 });
  await eventually(async () => (await Promise.all(proxies.map((p) => p.ready()))).every((r) => r.status === 200), 15_000, 'every proxy ready');
  // Ready is per proxy; the mesh has converged once checkout's registration has reached the front
  // door through the destination (on a loaded machine that can trail readiness by a moment).
  await eventually(async () => (await via({ 'l5d-dst-override': CHECKOUT })).status === 200, 15_000, 'checkout reachable through the front door');
}, 45_000);

afterAll(() => stopMesh({ clients: [front], cp, proxies, apps }));

describe('ingress mode with a default destination', () => {
  it('sends a request addressed to the front door itself (Host is its IP) to the default service, over mTLS', async () => {
    const r = await via({ host: `${FRONT_IP}:${ingress.outboundPort}` });
    expect(r).toEqual({ status: 200, pod: 'checkout-1', clientId: 'spiffe://cluster.local/ns/production/sa/ingress' });
    // Metrics carry the service the request went to, not the Host it arrived with.
    const m = await ingress.metrics();
    expect(metricValue(m, 'response_total', { direction: 'outbound', authority: CHECKOUT })).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, 'response_total', { direction: 'outbound', authority: `${FRONT_IP}:${ingress.outboundPort}` })).toBeUndefined();
  });

  it('sends a name discovery does not know (a public name, localhost) to the default service, not to that name', async () => {
    for (const host of ['shop.example.com', `localhost:${ingress.outboundPort}`]) {
      expect(await via({ host }), host).toMatchObject({ status: 200, pod: 'checkout-1' });
    }
  });

  it('sends a Host that is an IPv6 address, bracketed with a port or bare, to the default service', async () => {
    // A bare IPv6 Host is malformed HTTP, but it names an address, not a service: the default, not a 400.
    for (const host of [`[::1]:${ingress.outboundPort}`, '[fd00::5]', 'fd00::5', '::ffff:10.0.0.1']) {
      expect(await via({ host }), host).toMatchObject({ status: 200, pod: 'checkout-1' });
    }
    expect(await via({ host: 'fd00:' }), 'a Host that is neither').toMatchObject({ status: 400 });
  });

  it('still honours a Host that names a mesh service, and l5d-dst-override over any Host', async () => {
    expect(await via({ host: 'orders-stable.production:8080' })).toMatchObject({ status: 200, pod: 'orders-stable-1' });
    expect(await via({ host: `${FRONT_IP}:${ingress.outboundPort}`, 'l5d-dst-override': 'orders-stable.production.svc.cluster.local:8080' })).toMatchObject({ status: 200, pod: 'orders-stable-1' });
  });

  it('refuses the setting without ingress mode, and a value that is not host:port, naming it', () => {
    expect(() => loadConfig(['--ingress-default-dst', CHECKOUT], {})).toThrow(ConfigError);
    expect(() => loadConfig([], { MESH_PROXY_INGRESS_DEFAULT_DST: CHECKOUT })).toThrow(/MESH_PROXY_INGRESS_DEFAULT_DST is set but ingress mode is not/);
    expect(() => loadConfig(['--ingress', '--ingress-default-dst', 'checkout'], {})).toThrow(/--ingress-default-dst="checkout" is not host:port/);
    expect(loadConfig([], { MESH_PROXY_INGRESS: 'true', MESH_PROXY_INGRESS_DEFAULT_DST: CHECKOUT }).ingressDefaultDst).toBe(CHECKOUT);
  });
});
