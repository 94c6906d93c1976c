// Inbound authorization through real proxies over real mTLS: the lesson's orders-grpc Server admits
// checkout and refuses payments with PERMISSION_DENIED; plaintext clients outside the mesh under
// all-authenticated and all-unauthenticated; a policy edit applies without restart.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundPolicy } from '../../proxy/discovery/types.ts';
import { authorizePorts } from '../../proxy/inbound/authorize.ts';
import { targetPort } from '../../proxy/inbound/stack.ts';
import { headerValue } from '../../proxy/http/message.ts';
import { createLogger } from '../../proxy/log.ts';
import { testPki } from '../helpers/pki.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from './mesh-harness.ts';

const SERVER_IP = '127.0.26.22';
const ORDERS_GRPC = 'orders.production.svc.cluster.local:9090';
const CHECKOUT = 'spiffe://cluster.local/ns/production/sa/checkout';

const serverResolver = new TestResolver();
const clientResolver = new TestResolver();
const registry = new Registry();
let grpcApp: http2.Http2Server;
let httpApp: App;
let inbound: RunningProxy;
let checkout: RunningProxy;
let payments: RunningProxy;
let grpcPort: number;

function ordersGrpcPolicy(port: number, allowed: string[]): InboundPolicy {
  return {
    port,
    server: { name: 'production/orders-grpc', protocol: 'gRPC' },
    authorizations: [
      { name: 'ServerAuthorization production/orders-grpc-allow-checkout', authentication: { unauthenticated: false, identities: allowed, identitySuffixes: [], networks: [] } },
    ],
    defaultPolicy: 'all-unauthenticated',
    clusterNetworks: [],
  };
}

/** One gRPC-shaped call (unary, empty message) through `via`'s outbound proxy: the grpc-status. */
async function grpcCall(via: RunningProxy): Promise<{ status: string | undefined; message: string | undefined }> {
  const client = http2.connect(via.outboundUrl);
  client.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const s = client.request({ ':method': 'POST', ':path': '/orders.Orders/Get', ':authority': ORDERS_GRPC, 'content-type': 'application/grpc', te: 'trailers' });
      let headers: http2.IncomingHttpHeaders = {};
      s.on('response', (h) => { headers = h; console.log('RESPONSE', h); });
      s.on('trailers', (t) => (headers = { ...headers, ...t }));
      s.on('error', reject);
      s.resume();
      s.on('end', () => resolve({ status: headers['grpc-status'] as string | undefined, message: headers['grpc-message'] as string | undefined }));
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  const pki = await testPki();
  grpcApp = http2.createServer();
  grpcApp.on('stream', (stream, h) => {
    console.log('APP GOT', h);
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  await new Promise<void>((r) => grpcApp.listen(0, SERVER_IP, r));
  grpcPort = (grpcApp.address() as AddressInfo).port;
  httpApp = await startApp(SERVER_IP, (_q, res) => res.end('hello'));
  const httpPort = Number(httpApp.address.split(':')[1]);

  serverResolver.inboundPolicy(grpcPort).set(ordersGrpcPolicy(grpcPort, [CHECKOUT]));
  serverResolver.inboundPolicy(httpPort).set({ port: httpPort, authorizations: [], defaultPolicy: 'all-authenticated', clusterNetworks: [] });
  const authorize = authorizePorts(
    (port) => serverResolver.inboundPolicy(port),
    (req) => targetPort(headerValue(req.headers, 'l5d-dst-port'), httpPort),
    { registry, logger: createLogger('authz', { level: 'silent' }), podIp: SERVER_IP },
  );
  inbound = await startProxy(SERVER_IP, serverResolver, { authorize, credentials: await pki.credentialsFor('production/orders'), args: ['--app-port', String(httpPort)] });
  clientResolver.endpoints(ORDERS_GRPC).set({
    kind: 'endpoints',
    endpoints: [{ address: `${SERVER_IP}:${grpcPort}`, weight: 1, labels: {}, inboundPort: inbound.inboundPort, identity: 'spiffe://cluster.local/ns/production/sa/orders', h2: true }],
  });
  checkout = await startProxy('127.0.26.20', clientResolver, { credentials: await pki.credentialsFor('production/checkout') });
  payments = await startProxy('127.0.26.21', clientResolver, { credentials: await pki.credentialsFor('production/payments') });
});

afterAll(async () => {
  await Promise.all([checkout?.close(), payments?.close()]);
  await inbound?.close();
  await httpApp?.close();
  grpcApp?.close();
});

describe('inbound authorization through real proxies', () => {
  it('orders-grpc admits checkout and refuses payments with PERMISSION_DENIED naming the Server', async () => {
    const first = await Promise.race([grpcCall(checkout), new Promise((r) => setTimeout(() => r('TIMEOUT'), 3000))]);
    if (first === 'TIMEOUT') console.log(JSON.stringify({ out: checkout.logs.slice(-8), in: inbound.logs.slice(-8) }, null, 1));
    expect((await grpcCall(checkout)).status).toBe('0');
    const denied = await grpcCall(payments);
    expect(denied.status).toBe('7');
    expect(decodeURIComponent(denied.message ?? '')).toContain('Server production/orders-grpc does not authorize client spiffe://cluster.local/ns/production/sa/payments');
    const text = await registry.metrics();
    expect(text).toContain(`inbound_http_authz_deny_total{server="production/orders-grpc",reason="unauthorized",port="${grpcPort}"} 1`);
  });

  it('a policy edit applies to the running proxy', async () => {
    serverResolver.inboundPolicy(grpcPort).set(ordersGrpcPolicy(grpcPort, [CHECKOUT, 'spiffe://cluster.local/ns/production/sa/payments']));
    expect((await grpcCall(payments)).status).toBe('0');
    serverResolver.inboundPolicy(grpcPort).set(ordersGrpcPolicy(grpcPort, [CHECKOUT]));
    expect((await grpcCall(payments)).status).toBe('7');
  });

  it('a plaintext client outside the mesh is refused under all-authenticated and admitted under all-unauthenticated', async () => {
    const httpPort = Number(httpApp.address.split(':')[1]);
    const url = `http://${SERVER_IP}:${inbound.inboundPort}/`;
    const refused = await request(url);
    expect(refused.statusCode).toBe(403);
    expect(String(refused.headers['l5d-proxy-error'])).toContain('requires mTLS');
    await refused.body.dump();
    serverResolver.inboundPolicy(httpPort).set({ port: httpPort, authorizations: [], defaultPolicy: 'all-unauthenticated', clusterNetworks: [] });
    const admitted = await request(url);
    expect(admitted.statusCode).toBe(200);
    expect(await admitted.body.text()).toBe('hello');
  });
});
