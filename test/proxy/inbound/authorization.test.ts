// Authorization through the proxy, from the lesson's YAML served by a real destination: the
// orders-grpc Server admits checkout and refuses another service account with PERMISSION_DENIED;
// a client outside the mesh is refused under all-authenticated (HTTP and opaque TCP) and admitted
// under all-unauthenticated; a policy edit applies to the running proxy without a restart.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EchoClient, echoClient } from '../../helpers/grpc-echo.ts';
import { controlPlane, eventually, metricValue, proxyArgs, startPodApp, startProxy, type ControlPlane, type PodApp, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { productionId as id } from '../../helpers/pki.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const ORDERS_GRPC = 'orders.production.svc.cluster.local:9090';

let cp: ControlPlane;
const proxies: Record<string, RunningProxy> = {};
const apps: PodApp[] = [];
let grpcApp: grpc.Server;

/** The gRPC app of the orders pod (port 9090, as the lesson's Server says): answers with the caller's identity. */
async function startOrdersGrpc(ip: string): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(EchoClient.service, {
    Unary(call: grpc.ServerUnaryCall<{ text: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, { text: String(call.metadata.get('l5d-client-id')[0] ?? 'no l5d-client-id') });
    },
  });
  await new Promise<number>((resolve, reject) => server.bindAsync(`${ip}:9090`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  return server;
}

beforeAll(async () => {
  cp = await controlPlane({ fixtures: ['lesson'] });
  await cp.startIdentity(`${NET}.60:0`);
  await cp.startDestination(`${NET}.60:0`);
  grpcApp = await startOrdersGrpc(`${NET}.61`);
  apps.push(await startPodApp(`${NET}.61`, 8080, 'orders-1'), await startPodApp(`${NET}.62`, 8080, 'inventory-1'));
  const start = async (name: string, ip: string, sa: string, labels: Record<string, string>, ports: string[], args: string[] = []) => {
    proxies[name] = await startProxy(proxyArgs(cp, { name, serviceAccount: sa, ip, labels, ports, args }));
  };
  await Promise.all([
    start('orders-1', `${NET}.61`, 'orders', { app: 'orders', track: 'stable' }, ['http:8080', 'grpc:9090'], ['--default-inbound-policy', 'all-authenticated', '--app-port', '8080']),
    start('inventory-1', `${NET}.62`, 'inventory', { app: 'inventory' }, ['8080'], ['--default-inbound-policy', 'all-unauthenticated', '--app-port', '8080']),
    start('checkout-1', `${NET}.63`, 'checkout', { app: 'checkout' }, ['8080']),
    start('payments-1', `${NET}.64`, 'payments', { app: 'payments' }, ['8080']),
  ]);
  await eventually(async () => (await Promise.all(Object.values(proxies).map((p) => p.ready()))).every((r) => r.status === 200), 15_000, 'every proxy ready');
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(Object.values(proxies).map((p) => p.stop()));
  await Promise.allSettled(apps.map((a) => a.close()));
  grpcApp?.forceShutdown();
  await cp?.close();
});

function unary(via: RunningProxy): Promise<{ code: number; text?: string; details?: string }> {
  const client = echoClient(`${via.ip}:${via.outboundPort}`, ORDERS_GRPC);
  return new Promise((resolve) => {
    client['Unary']!({ text: 'hi' }, { deadline: Date.now() + 5_000 }, (err: grpc.ServiceError | null, res: { text: string }) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { code: 0, text: res.text });
    });
  });
}

describe("the lesson's orders-grpc Server", () => {
  it('admits checkout over mTLS; the app learns who called', async () => {
    expect(await unary(proxies['checkout-1']!)).toEqual({ code: 0, text: id('checkout') });
  });

  it('refuses another service account with PERMISSION_DENIED naming it; logged and counted', async () => {
    const r = await unary(proxies['payments-1']!);
    expect(r.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.details).toContain(id('payments'));
    const orders = proxies['orders-1']!;
    expect(metricValue(await orders.metrics(), 'inbound_http_authz_deny_total', { port: '9090', reason: 'unauthorized' })).toBeGreaterThanOrEqual(1);
    expect(orders.logs.some((l) => l.level === 'warn' && l.client === id('payments') && l.port === 9090)).toBe(true);
  });

  it('a policy edit (payments added to the ServerAuthorization) applies to the running proxy', async () => {
    const file = join(cp.resourcesDir, 'authz.yaml');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('        - name: checkout\n          namespace: production\n', '        - name: checkout\n          namespace: production\n        - name: payments\n          namespace: production\n'));
    expect(readFileSync(file, 'utf8')).toContain('name: payments');
    const t0 = Date.now();
    await eventually(async () => (await unary(proxies['payments-1']!)).code === 0, 5_000, 'payments admitted after the edit');
    console.log(`policy edit applied in ${Date.now() - t0} ms`);
    // And taken back: refused again, still without a restart.
    writeFileSync(file, text);
    await eventually(async () => (await unary(proxies['payments-1']!)).code === grpc.status.PERMISSION_DENIED, 5_000, 'payments refused after the revert');
    expect(await unary(proxies['checkout-1']!)).toEqual({ code: 0, text: id('checkout') });
  });
});

describe('clients outside the mesh and the default policy', () => {
  const plainGet = async (p: RunningProxy) => {
    const res = await request(`http://${p.ip}:${p.inboundPort}/plain`, { headers: { 'l5d-dst-port': '8080' } });
    return { status: res.statusCode, error: res.headers['l5d-proxy-error'] as string | undefined, body: await res.body.text() };
  };

  it('all-authenticated: a plaintext HTTP client is refused with 403; a meshed one is admitted', async () => {
    const r = await plainGet(proxies['orders-1']!);
    expect(r.status).toBe(403);
    expect(r.error).toMatch(/all-authenticated|unauthenticated/);
    expect(apps[0]!.seen.some((s) => s.path === '/plain')).toBe(false);
    // The same port through the mesh (mTLS from checkout) is admitted.
    const viaMesh = await request(`http://${proxies['checkout-1']!.ip}:${proxies['checkout-1']!.outboundPort}/meshed`, { headers: { host: 'orders-stable:8080' } });
    expect(viaMesh.statusCode).toBe(200);
    expect(await viaMesh.body.json()).toMatchObject({ pod: 'orders-1', clientId: id('checkout') });
  });

  it('all-unauthenticated: the same plaintext client is admitted', async () => {
    const r = await plainGet(proxies['inventory-1']!);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ pod: 'inventory-1', clientId: null });
  });

  it('opaque TCP from outside the mesh: closed under all-authenticated (logged, counted), carried under all-unauthenticated', async () => {
    const raw = (p: RunningProxy) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: p.ip, port: p.inboundPort });
        let got = '';
        // Not HTTP, not TLS: the inbound side tunnels it to --app-port after policy says yes.
        socket.on('connect', () => socket.write(Buffer.from([0, 1, 2, 3, 13, 10, 13, 10])));
        socket.on('data', (d: Buffer) => (got += d.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(got));
      });
    const refused = await raw(proxies['orders-1']!);
    expect(refused).toBe('');
    const orders = proxies['orders-1']!;
    expect(orders.logs.some((l) => l.transport === 'opaque' && l.reason === 'unauthenticated' && l.port === 8080)).toBe(true);
    expect(metricValue(await orders.metrics(), 'inbound_http_authz_deny_total', { reason: 'unauthenticated', port: '8080' })).toBeGreaterThanOrEqual(2);
    // The app (node:http) answers the garbage itself: proof the bytes reached it.
    expect(await raw(proxies['inventory-1']!)).toMatch(/^HTTP\/1\.1 400/);
  });
});
