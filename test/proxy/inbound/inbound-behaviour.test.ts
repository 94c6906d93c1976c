// Inbound authorization through real proxies over real mTLS: Servers admit checkout and refuse
// payments (HTTP 403, gRPC PERMISSION_DENIED, with the reason), plaintext clients outside the mesh
// under all-authenticated and all-unauthenticated, and a policy edit without restart.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundPolicy } from '../../../api/destination-types.ts';
import { authorizePorts } from '../../../proxy/inbound/authorize.ts';
import { targetPort } from '../../../proxy/inbound/stack.ts';
import { headerValue } from '../../../proxy/http/message.ts';
import { createLogger } from '../../../api/log.ts';
import { testPki } from '../../helpers/pki.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const SERVER_IP = `${NET}.22`;
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

/** One unary gRPC-shaped call through `via`'s outbound proxy: grpc-status and grpc-message. */
async function grpcCall(via: RunningProxy, authority: string): Promise<{ status?: string; message?: string }> {
  const client = http2.connect(via.outboundUrl);
  client.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const s = client.request({ ':method': 'POST', ':path': '/orders.Orders/Get', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' });
      let headers: http2.IncomingHttpHeaders = {};
      s.setTimeout(5000, () => reject(new Error('gRPC call through the mesh got no answer in 5 s')));
      s.on('response', (h) => (headers = h));
      s.on('trailers', (t) => (headers = { ...headers, ...t }));
      s.on('error', reject);
      s.on('end', () => resolve({ status: headers['grpc-status'] as string | undefined, message: headers['grpc-message'] as string | undefined }));
      s.resume();
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  const pki = await testPki();
  grpcApp = http2.createServer();
  grpcApp.on('stream', (stream) => {
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
  const authorize = authorizePorts(
    (port) => serverResolver.inboundPolicy(port),
    (req) => targetPort(headerValue(req.headers, 'l5d-dst-port'), httpPort),
    { registry, logger: createLogger('authz', { level: 'silent' }), podIp: SERVER_IP },
  );
  inbound = await startProxy(SERVER_IP, serverResolver, { authorize, credentials: await pki.credentialsFor('production/orders'), args: ['--app-port', String(httpPort)] });
  checkout = await startProxy(`${NET}.20`, clientResolver, { credentials: await pki.credentialsFor('production/checkout') });
  payments = await startProxy(`${NET}.21`, clientResolver, { credentials: await pki.credentialsFor('production/payments') });
});

afterAll(async () => {
  await Promise.all([checkout?.close(), payments?.close()]);
  await inbound?.close();
  await httpApp?.close();
  grpcApp?.close();
});

describe('inbound authorization through real proxies', () => {
  const httpPort = () => Number(httpApp.address.split(':')[1]);
  const web = 'orders-http.production.svc.cluster.local:8080';

  it('a Server admits checkout over mTLS and refuses payments with 403 naming the Server and the caller', async () => {
    clientResolver.endpoints(web).set({
      kind: 'endpoints',
      endpoints: [{ address: `${SERVER_IP}:${httpPort()}`, weight: 1, labels: {}, inboundPort: inbound.inboundPort, identity: 'spiffe://cluster.local/ns/production/sa/orders' }],
    });
    serverResolver.inboundPolicy(httpPort()).set({ ...ordersGrpcPolicy(httpPort(), [CHECKOUT]), server: { name: 'production/orders-http', protocol: 'HTTP/1' } });
    const ok = await request(`${checkout.outboundUrl}/orders/1`, { headers: { host: web } });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toBe('hello');
    const denied = await request(`${payments.outboundUrl}/orders/1`, { headers: { host: web } });
    expect(denied.statusCode).toBe(403);
    expect(String(denied.headers['l5d-proxy-error'])).toContain('Server production/orders-http does not authorize client spiffe://cluster.local/ns/production/sa/payments');
    await denied.body.dump();
    const text = await registry.metrics();
    expect(text).toContain(`inbound_http_authz_deny_total{server="production/orders-http",reason="unauthorized",port="${httpPort()}"} 1`);
    expect(text).toContain(`inbound_http_authz_allow_total{server="production/orders-http",authz="ServerAuthorization production/orders-grpc-allow-checkout",port="${httpPort()}"} 1`);
  });

  it('a policy edit applies to the running proxy', async () => {
    serverResolver.inboundPolicy(httpPort()).set(ordersGrpcPolicy(httpPort(), [CHECKOUT, 'spiffe://cluster.local/ns/production/sa/payments']));
    const admitted = await request(`${payments.outboundUrl}/orders/1`, { headers: { host: web } });
    expect(admitted.statusCode).toBe(200);
    await admitted.body.dump();
    serverResolver.inboundPolicy(httpPort()).set(ordersGrpcPolicy(httpPort(), [CHECKOUT]));
    const refused = await request(`${payments.outboundUrl}/orders/1`, { headers: { host: web } });
    expect(refused.statusCode).toBe(403);
    await refused.body.dump();
  });

  it('the orders-grpc Server admits checkout and refuses payments with PERMISSION_DENIED, over mTLS', async () => {
    const authority = 'orders.production.svc.cluster.local:9090';
    clientResolver.endpoints(authority).set({
      kind: 'endpoints',
      endpoints: [{ address: `${SERVER_IP}:${grpcPort}`, weight: 1, labels: {}, inboundPort: inbound.inboundPort, identity: 'spiffe://cluster.local/ns/production/sa/orders', h2: true }],
    });
    serverResolver.inboundPolicy(grpcPort).set(ordersGrpcPolicy(grpcPort, [CHECKOUT]));
    const ok = await grpcCall(checkout, authority);
    expect(ok.status).toBe('0');
    const denied = await grpcCall(payments, authority);
    expect(denied.status).toBe('7');
    expect(decodeURIComponent(denied.message ?? '')).toContain('Server production/orders-grpc does not authorize client spiffe://cluster.local/ns/production/sa/payments');
  });

  it('the orders-grpc Server refuses a gRPC caller without identity with PERMISSION_DENIED', async () => {
    const client = http2.connect(`http://${SERVER_IP}:${inbound.inboundPort}`);
    client.on('error', () => {});
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const s = client.request({ ':method': 'POST', ':path': '/orders.Orders/Get', 'content-type': 'application/grpc', te: 'trailers', 'l5d-dst-port': String(grpcPort) });
      s.on('response', resolve);
      s.on('error', reject);
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    client.close();
    expect(headers['grpc-status']).toBe('7');
    expect(decodeURIComponent(String(headers['grpc-message']))).toContain('Server production/orders-grpc does not authorize unauthenticated client');
  });

  it('a plaintext client outside the mesh is refused under all-authenticated and admitted under all-unauthenticated', async () => {
    serverResolver.inboundPolicy(httpPort()).set({ port: httpPort(), authorizations: [], defaultPolicy: 'all-authenticated', clusterNetworks: [] });
    const url = `http://${SERVER_IP}:${inbound.inboundPort}/`;
    const refused = await request(url);
    expect(refused.statusCode).toBe(403);
    expect(String(refused.headers['l5d-proxy-error'])).toContain('requires mTLS');
    await refused.body.dump();
    serverResolver.inboundPolicy(httpPort()).set({ port: httpPort(), authorizations: [], defaultPolicy: 'all-unauthenticated', clusterNetworks: [] });
    const admitted = await request(url);
    expect(admitted.statusCode).toBe(200);
    expect(await admitted.body.text()).toBe('hello');
  });
});
