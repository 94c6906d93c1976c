// Identity through the proxy: two proxies get their certificates from a real CA (10-second
// lifetime), every hop is mTLS, and a stream of requests runs for 30 s across several renewals
// without one failure while the expiry metric moves forward.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devResources } from '../../helpers/dev-resources.ts';
import { controlPlane, eventually, metricValue, proxyArgs, startPodApp, startProxy, type ControlPlane, type PodApp, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { productionId } from '../../helpers/pki.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const CLIENT_IP = `${NET}.11`;
const SERVER_IP = `${NET}.12`;
const ORDERS = 'orders.production.svc.cluster.local:8080';
const CHECKOUT_ID = productionId('checkout');
const ORDERS_ID = productionId('orders');

let cp: ControlPlane;
let app: PodApp;
let server: RunningProxy;
let client: RunningProxy;
let file: string;

beforeAll(async () => {
  cp = await controlPlane({ certLifetimeMs: 10_000 });
  await cp.startIdentity(`${NET}.10:0`);
  app = await startPodApp(SERVER_IP, 8080, 'orders-1');
  file = join(cp.dir, 'endpoints.json');
  writeFileSync(file, devResources({ name: 'orders-1', ip: SERVER_IP, inboundPort: 4143 }, []));
  server = await startProxy([...proxyArgs(cp, { name: 'orders-1', serviceAccount: 'orders', ip: SERVER_IP }), '--endpoints-file', file, '--app-port', '8080']);
  writeFileSync(file, devResources({ name: 'orders-1', ip: SERVER_IP, inboundPort: server.inboundPort, identity: ORDERS_ID }, [{ authority: ORDERS, port: 8080 }]));
  client = await startProxy([...proxyArgs(cp, { name: 'checkout-1', serviceAccount: 'checkout', ip: CLIENT_IP }), '--endpoints-file', file]);
  await eventually(async () => (await client.ready()).status === 200 && (await server.ready()).status === 200, 15_000, 'both proxies ready');
}, 30_000);

afterAll(async () => {
  await Promise.allSettled([client?.stop(), server?.stop()]);
  await app?.close();
  await cp?.close();
});

describe('identity through two proxies', () => {
  it('every hop is mTLS with certificates from the CA; the app sees the caller identity', async () => {
    const pool = new Pool(`http://${CLIENT_IP}:${client.outboundPort}`);
    try {
      // The short name resolves in the proxy's namespace (production).
      const res = await pool.request({ path: '/hello', method: 'GET', headers: { host: 'orders:8080', 'l5d-client-id': 'spiffe://evil/ns/x/sa/y' } });
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toMatchObject({ pod: 'orders-1', clientId: CHECKOUT_ID });
    } finally {
      await pool.close();
    }
    // The client proxy's connection to the server proxy is TLS, and the server proved the identity discovery gave.
    expect(await client.metrics()).toMatch(/tcp_open_total\{[^}]*direction="outbound"[^}]*peer="dst"[^}]*tls="true"[^}]*server_id="spiffe:\/\/cluster.local\/ns\/production\/sa\/orders"/);
    // The server proxy's request was TLS from the client identity.
    expect(await server.metrics()).toMatch(/response_total\{[^}]*direction="inbound"[^}]*tls="true"[^}]*client_id="spiffe:\/\/cluster.local\/ns\/production\/sa\/checkout"/);
    expect(client.proxy.credentials?.identity).toBe(CHECKOUT_ID);
  });

  it('30 s of requests across several renewals: not one fails, and the expiry metric moves forward', async () => {
    const expiryBefore = [metricValue(await client.metrics(), 'identity_cert_expiration_timestamp_seconds')!, metricValue(await server.metrics(), 'identity_cert_expiration_timestamp_seconds')!];
    const renewalsBefore = metricValue(await client.metrics(), 'identity_cert_renewals_total', { result: 'success' })!;
    expect(expiryBefore[0]).toBeGreaterThan(Date.now() / 1000);
    const pool = new Pool(`http://${CLIENT_IP}:${client.outboundPort}`, { connections: 4 });
    const failures: string[] = [];
    let ok = 0;
    const end = Date.now() + 30_000;
    const worker = async () => {
      while (Date.now() < end) {
        try {
          const res = await pool.request({ path: '/stream', method: 'GET', headers: { host: ORDERS } });
          const body = (await res.body.json()) as { clientId: string };
          if (res.statusCode === 200 && body.clientId === CHECKOUT_ID) ok++;
          else failures.push(`${res.statusCode} ${JSON.stringify(body)}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    await pool.close();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(300);
    const expiryAfter = [metricValue(await client.metrics(), 'identity_cert_expiration_timestamp_seconds')!, metricValue(await server.metrics(), 'identity_cert_expiration_timestamp_seconds')!];
    const renewals = metricValue(await client.metrics(), 'identity_cert_renewals_total', { result: 'success' })! - renewalsBefore;
    // Renewal at 70% of 10 s: about four renewals in 30 s; allow for a slow machine.
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(expiryAfter[0]! - expiryBefore[0]!).toBeGreaterThanOrEqual(14);
    expect(expiryAfter[1]! - expiryBefore[1]!).toBeGreaterThanOrEqual(14);
    console.log(`renewal: ${ok} requests in 30 s, ${renewals} client renewals, expiry moved ${expiryAfter[0]! - expiryBefore[0]!} s`);
  }, 45_000);
});
