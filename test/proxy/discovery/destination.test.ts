// Destination through the proxy: proxies that get their identity from a real CA and their
// endpoints, routes and policy from a real destination (the lesson's YAML), registering their pods.
// Names resolve as Kubernetes DNS would; replicas join and leave live; the destination can die
// under traffic without one request failing, and its changes reach the proxies after it returns.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationClient } from '../../../proxy/discovery/destination-client.ts';
import type { EndpointSet } from '../../../api/destination-types.ts';
import {
  controlPlane, DESTINATION_IDENTITY, eventually, handMadeCredentials, proxyArgs, spawnProxy, startPodApp, startProxy, stopMesh,
  type ChildProxy, type ControlPlane, type PodApp, type RunningProxy,
} from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const DEST_ADDR_HOST = `${NET}.50`;
const ORDERS_LABELS = { app: 'orders' };
const PORTS = ['http:8080', 'grpc:9090'];

let cp: ControlPlane;
let checkout: RunningProxy;
const proxies: RunningProxy[] = [];
const apps: PodApp[] = [];
let pool: Pool;
let watcher: DestinationClient;
let replica: ChildProxy | undefined;

async function pod(name: string, ip: string, track: string): Promise<RunningProxy> {
  apps.push(await startPodApp(ip, 8080, name));
  const p = await startProxy(proxyArgs(cp, { name, serviceAccount: 'orders', ip, labels: { ...ORDERS_LABELS, track }, ports: PORTS }));
  proxies.push(p);
  return p;
}

async function get(authority: string, path = '/hello'): Promise<{ status: number; pod?: string; error?: string; ms: number }> {
  const t0 = performance.now();
  const res = await pool.request({ path, method: 'GET', headers: { host: authority } });
  const text = await res.body.text();
  const ms = performance.now() - t0;
  if (res.statusCode !== 200) return { status: res.statusCode, error: res.headers['l5d-proxy-error'] as string, ms };
  return { status: 200, pod: (JSON.parse(text) as { pod: string }).pod, ms };
}

async function podsAnswering(authority: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await get(authority);
    expect(r, `request ${i} to ${authority}`).toMatchObject({ status: 200 });
    seen.add(r.pod!);
  }
  return seen;
}

const addressesOf = (set: EndpointSet | undefined) => (set?.kind === 'endpoints' ? set.endpoints.map((e) => e.address).sort() : []);

beforeAll(async () => {
  cp = await controlPlane({ fixtures: ['lesson'] });
  // A Service with no pods at all.
  writeFileSync(join(cp.resourcesDir, 'payments.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: payments, namespace: production}\nspec:\n  selector: {app: payments}\n  ports: [{port: 8080}]\n');
  await cp.startIdentity(`${DEST_ADDR_HOST}:0`);
  await cp.startDestination(`${DEST_ADDR_HOST}:0`);
  await pod('orders-stable-1', `${NET}.52`, 'stable');
  await pod('orders-canary-1', `${NET}.53`, 'canary');
  checkout = await startProxy(proxyArgs(cp, { name: 'checkout-1', serviceAccount: 'checkout', ip: `${NET}.51`, labels: { app: 'checkout' }, ports: ['8080'] }));
  proxies.push(checkout);
  pool = new Pool(`http://${NET}.51:${checkout.outboundPort}`, { connections: 8 });
  watcher = new DestinationClient({
    addr: cp.destination!.address,
    credentials: await handMadeCredentials(cp.ca, 'spiffe://cluster.local/ns/production/sa/watcher'),
    namespace: 'production',
    serverIdentity: DESTINATION_IDENTITY,
    backoff: { minMs: 50, maxMs: 500 },
    logger: pino({ level: 'silent' }),
  });
  await eventually(async () => (await Promise.all(proxies.map((p) => p.ready()))).every((r) => r.status === 200), 15_000, 'every proxy ready');
}, 30_000);

afterAll(async () => {
  if (replica && replica.child.exitCode === null) replica.child.kill('SIGKILL');
  await stopMesh({ clients: [watcher, pool], cp, proxies, apps });
});

describe('destination through the proxy', () => {
  it('resolves by the full name and by the short name from the same namespace; each pod registered itself', async () => {
    const stable = watcher.endpoints('orders-stable.production.svc.cluster.local:8080');
    await eventually(() => addressesOf(stable.get()).join() === `${NET}.52:8080`, 5_000, 'orders-stable-1 registered');
    const full = await podsAnswering('orders.production.svc.cluster.local:8080', 30);
    const short = await podsAnswering('orders:8080', 30);
    // The lesson's HTTPRoute splits orders 90/10 between stable and canary.
    expect(full.has('orders-stable-1')).toBe(true);
    expect([...full, ...short].every((p) => p === 'orders-stable-1' || p === 'orders-canary-1')).toBe(true);
    expect(short.has('orders-stable-1')).toBe(true);
    expect(await podsAnswering('orders-canary:8080', 5)).toEqual(new Set(['orders-canary-1']));
    // The endpoint carries the identity from the pod's certificate, which the client proxy verified.
    expect(stable.get()).toMatchObject({ kind: 'endpoints', endpoints: [{ identity: 'spiffe://cluster.local/ns/production/sa/orders' }] });
  });

  it('ingress mode: plain origin-form requests routed by l5d-dst-override, else by Host', async () => {
    const ingress = await startProxy([...proxyArgs(cp, { name: 'ingress-1', serviceAccount: 'ingress', ip: `${NET}.55`, labels: { app: 'ingress' } }), '--ingress', '--outbound-ip', `${NET}.56`]);
    proxies.push(ingress);
    await eventually(async () => (await ingress.ready()).status === 200, 10_000, 'the ingress proxy ready');
    // The front door listens apart from the pod address (the demo's 127.0.0.1:8000).
    const front = new Pool(`http://${NET}.56:${ingress.outboundPort}`);
    try {
      const byOverride = await front.request({ path: '/x', method: 'GET', headers: { host: 'shop.example.com', 'l5d-dst-override': 'orders-canary.production.svc.cluster.local:8080' } });
      expect(byOverride.statusCode).toBe(200);
      expect(await byOverride.body.json()).toMatchObject({ pod: 'orders-canary-1', clientId: 'spiffe://cluster.local/ns/production/sa/ingress' });
      const byHost = await front.request({ path: '/x', method: 'GET', headers: { host: 'orders-stable.production:8080' } });
      expect(byHost.statusCode).toBe(200);
      expect(await byHost.body.json()).toMatchObject({ pod: 'orders-stable-1' });
    } finally {
      await front.close();
    }
    expect(await ingress.metrics()).toMatch(/response_total\{[^}]*direction="outbound"[^}]*authority="orders-canary.production.svc.cluster.local:8080"/);
  });

  it('a destination whose certificate names another identity than the one expected is refused: no endpoints, and the reason says what it presented', async () => {
    const lost: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lost.push(String(JSON.parse(line).why)) });
    const wary = new DestinationClient({
      addr: cp.destination!.address,
      credentials: await handMadeCredentials(cp.ca, 'spiffe://cluster.local/ns/production/sa/wary'),
      namespace: 'production',
      serverIdentity: 'spiffe://cluster.local/ns/mesh-system/sa/not-the-destination',
      backoff: { minMs: 50, maxMs: 500 },
      logger,
    });
    try {
      const stable = wary.endpoints('orders-stable.production.svc.cluster.local:8080');
      await eventually(() => lost.length > 0, 5_000, 'the watch refused');
      expect(lost[0]).toContain(`destination presented ${DESTINATION_IDENTITY}, expected spiffe://cluster.local/ns/mesh-system/sa/not-the-destination`);
      expect(stable.get()).toBeUndefined();
    } finally {
      wary.close();
    }
  });

  it('a service with no endpoints: 503 with l5d-proxy-error, fast', async () => {
    const r = await get('payments:8080');
    expect(r.status).toBe(503);
    expect(r.error).toMatch(/payments/);
    expect(r.ms).toBeLessThan(1_000);
  });

  it('a new replica joins without any restart; a replica that exits leaves every watcher', async () => {
    apps.push(await startPodApp(`${NET}.54`, 8080, 'orders-stable-2'));
    replica = await spawnProxy({
      MESH_POD_IP: `${NET}.54`, MESH_PROXY_OUTBOUND_PORT: '0', MESH_PROXY_INBOUND_PORT: '0', MESH_PROXY_ADMIN_PORT: '0',
      MESH_POD_NAME: 'orders-stable-2', MESH_POD_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'orders',
      MESH_POD_LABELS: 'app=orders,track=stable', MESH_POD_PORTS: PORTS.join(','),
      MESH_IDENTITY: 'spiffe://cluster.local/ns/production/sa/orders',
      MESH_IDENTITY_ADDR: cp.identity!.addr, MESH_DESTINATION_ADDR: cp.destination!.address,
      MESH_TRUST_ANCHORS: cp.anchorsFile, MESH_TOKEN_FILE: cp.tokenFile('production', 'orders'),
    });
    const stable = watcher.endpoints('orders-stable.production.svc.cluster.local:8080');
    await eventually(() => addressesOf(stable.get()).length === 2, 10_000, 'orders-stable-2 in the watcher');
    await eventually(async () => (await podsAnswering('orders-stable:8080', 10)).has('orders-stable-2'), 10_000, 'the checkout proxy sends to orders-stable-2');

    replica.child.kill('SIGKILL'); // no goodbye: the registration stream just breaks
    await replica.exited;
    await eventually(() => addressesOf(stable.get()).join() === `${NET}.52:8080`, 5_000, 'orders-stable-2 gone from the watcher');
    // And from the checkout proxy's view: every request lands on the remaining replica.
    await eventually(async () => {
      const seen = await podsAnswering('orders-stable:8080', 20);
      return seen.size === 1 && seen.has('orders-stable-1');
    }, 5_000, 'the checkout proxy no longer sends to orders-stable-2');
  }, 30_000);

  it('the destination killed under live traffic: requests keep flowing; after it restarts, proxies re-register and an HTTPRoute change reaches them', async () => {
    const failures: string[] = [];
    const answeredBy = new Map<string, number>();
    let running = true;
    const traffic = (async () => {
      while (running) {
        for (const authority of ['orders:8080', 'orders-stable:8080']) {
          try {
            const r = await get(authority);
            if (r.status !== 200) failures.push(`${authority}: ${r.status} ${r.error}`);
            else answeredBy.set(r.pod!, (answeredBy.get(r.pod!) ?? 0) + 1);
          } catch (err) {
            failures.push(`${authority}: ${(err as Error).message}`);
          }
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      const addr = cp.destination!.address;
      await cp.destination!.close();
      const downAt = answeredBy.get('orders-stable-1') ?? 0;
      await new Promise((r) => setTimeout(r, 3_000));
      // Still answering (a handful in 3 s is enough to say so; a loaded machine answers fewer than an idle one).
      expect((answeredBy.get('orders-stable-1') ?? 0) - downAt).toBeGreaterThan(5);

      // An authority first asked for while the destination is down has no last state to keep: a
      // 503 at once that says so, not a hang of the discovery timeout for its profile and then
      // again for its endpoints (3 s + 3 s, which a caller's 500 ms route timeout turns into 504s).
      const fresh = await get('reviews:8080');
      expect(fresh).toMatchObject({ status: 503, error: expect.stringMatching(/did not answer/) });
      expect(fresh.ms).toBeLessThan(3_000);

      // Back on the same address, holding back "no endpoints" while pods re-register (as after a real restart).
      await cp.startDestination(addr, 5_000);
      const registered = () => cp.destination!.discovery.pods.all().map((p) => p.name).sort().join();
      await eventually(() => registered() === 'checkout-1,ingress-1,orders-canary-1,orders-stable-1', 15_000, 'every proxy re-registered with the new destination');

      const lesson = join(cp.resourcesDir, 'lesson.yaml');
      writeFileSync(lesson, readFileSync(lesson, 'utf8').replace('weight: 90', 'weight: 0').replace('weight: 10', 'weight: 100'));
      await eventually(async () => {
        const seen = await podsAnswering('orders:8080', 20);
        return seen.size === 1 && seen.has('orders-canary-1');
      }, 15_000, 'the new split (all to canary) in the checkout proxy');
    } finally {
      running = false;
      await traffic;
    }
    expect(failures).toEqual([]);
  }, 45_000);
});
