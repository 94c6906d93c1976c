// The demo apps on their own (no mesh): real servers on port 0, real clients, the same code
// the demo runs, wired directly to each other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { startPayments } from '../../../examples/orders-checkout/apps/payments.ts';
import { startOrders } from '../../../examples/orders-checkout/apps/orders.ts';
import { startCheckout } from '../../../examples/orders-checkout/apps/checkout.ts';
import { startRogue } from '../../../examples/orders-checkout/apps/rogue.ts';
import { healthPackage } from '../../../examples/orders-checkout/apps/grpc-protos.ts';
import { H2Client } from '../../../examples/orders-checkout/apps/h2-client.ts';
import { addressBlock } from '../../helpers/address-block.ts';

const log = pino({ level: 'silent' });
const host = `${await addressBlock()}.1`;

function h2(port: number, method: string, path: string, body?: unknown) {
  return new Promise<{ status: number; json: any }>((resolve, reject) => {
    const session = http2.connect(`http://${host}:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': method, ':path': path, 'content-type': 'application/json' });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => { session.close(); resolve({ status, json: JSON.parse(Buffer.concat(chunks).toString()) }); });
    stream.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function http1(url: string, method = 'GET', body?: unknown) {
  const res = await request(url, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

describe('demo apps without the mesh', () => {
  let payments: Awaited<ReturnType<typeof startPayments>>;
  let orders: Awaited<ReturnType<typeof startOrders>>;
  let checkout: Awaited<ReturnType<typeof startCheckout>>;

  beforeAll(async () => {
    delete process.env.HTTP_PROXY; delete process.env.http_proxy; delete process.env.grpc_proxy;
    payments = await startPayments({ host, port: 0, settings: { failureRate: 0, latencyMs: 0 }, log });
    orders = await startOrders({ host, httpPort: 0, grpcPort: 0, version: 'canary', paymentsUrl: `http://${host}:${payments.port}`, proxy: undefined, log });
    checkout = await startCheckout({ host, port: 0, ordersUrl: `http://${host}:${orders.httpPort}`, ordersGrpcTarget: `${host}:${orders.grpcPort}`, log });
  });
  afterAll(async () => {
    await checkout?.close();
    await orders?.close();
    payments?.server.close();
  });

  it('checks out an order end to end and reads it back over HTTP and gRPC', async () => {
    const placed = await http1(`http://${host}:${checkout.port}/checkout`, 'POST', { item: 'book', quantity: 2 });
    expect(placed.status).toBe(201);
    expect(placed.json.order).toMatchObject({ item: 'book', quantity: 2, amountCents: 2500, createdBy: 'canary' });
    expect(placed.json.servedBy).toBe('canary');
    const got = await http1(`http://${host}:${checkout.port}/orders/${placed.json.order.id}`);
    expect(got.status).toBe(200);
    expect(got.json.order.id).toBe(placed.json.order.id);
    const listed = await http1(`http://${host}:${checkout.port}/orders`);
    expect(listed.status).toBe(200);
    expect(listed.json.orders[0]).toMatchObject({ id: placed.json.order.id, servedBy: 'canary' });
    const health = await http1(`http://${host}:${checkout.port}/orders-health`);
    expect(health.json).toMatchObject({ status: 'SERVING' });
  });

  it('rejects bad input with a message naming the field', async () => {
    const bad = await http1(`http://${host}:${checkout.port}/checkout`, 'POST', { item: 'book', quantity: 0 });
    expect(bad.status).toBe(400);
    expect(bad.json.detail.error).toMatch(/quantity/);
    const missing = await http1(`http://${host}:${checkout.port}/orders/nonsense`);
    expect(missing.status).toBe(404);
    const undecodable = await http1(`http://${host}:${orders.httpPort}/orders/%E0%A4%A`);
    expect([undecodable.status, undecodable.json.error]).toEqual([400, 'order id "%E0%A4%A" is not valid percent-encoding']);
    const grpcMissing = await new Promise<grpc.ServiceError | null>((resolve) => {
      const c = new (healthPackage().Health)(`${host}:${orders.grpcPort}`, grpc.credentials.createInsecure());
      (c as any).check({ service: 'nope' }, (err: grpc.ServiceError | null) => { c.close(); resolve(err); });
    });
    expect(grpcMissing?.code).toBe(grpc.status.NOT_FOUND);
  });

  it('payments fails, slows and is reconfigured at run time; a failed charge is a 502 at checkout', async () => {
    const set = await h2(payments.port, 'POST', '/config', { failureRate: 1, latencyMs: 50 });
    expect(set).toEqual({ status: 200, json: { failureRate: 1, latencyMs: 50 } });
    const started = Date.now();
    const failed = await http1(`http://${host}:${checkout.port}/checkout`, 'POST', { item: 'mug', quantity: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(failed.status).toBe(502);
    expect(failed.json.detail).toMatchObject({ error: 'payment failed', paymentsStatus: 503 });
    const refused = await h2(payments.port, 'POST', '/config', { failureRate: 2 });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatch(/failureRate/);
    expect((await h2(payments.port, 'POST', '/config', { failureRate: 0, latencyMs: 0 })).status).toBe(200);
  });

  it('payments answers a retried charge (same idempotency key) with the same charge', async () => {
    const first = await h2(payments.port, 'POST', '/charge', { orderId: 'o_same', amountCents: 100 });
    const again = await h2(payments.port, 'POST', '/charge', { orderId: 'o_same', amountCents: 100 });
    expect(first.status).toBe(200);
    expect(again.json.chargeId).toBe(first.json.chargeId);
    // A body that is JSON but not an object is the caller's mistake (400), not a crash (500).
    const notAnObject = await h2(payments.port, 'POST', '/charge', null);
    expect(notAnObject.status).toBe(400);
    expect(notAnObject.json.error).toMatch(/^a charge is a JSON object/);
  });

  it('rogue counts every outcome of its calls', async () => {
    const rogue = await startRogue({ host, port: 0, target: `${host}:${orders.grpcPort}`, intervalMs: 50, log });
    // Until three calls have come back (it calls every 50 ms; a loaded machine may take longer).
    let stats = await http1(`http://${host}:${rogue.port}/stats`);
    for (const deadline = Date.now() + 10_000; stats.json.allowed + stats.json.refused + stats.json.otherErrors < 3 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await http1(`http://${host}:${rogue.port}/stats`);
    }
    await rogue.close();
    // Without the mesh nothing refuses it: the policy lives in the proxy, not in the app.
    expect(stats.json.allowed).toBeGreaterThan(0);
    expect(stats.json.refused).toBe(0);
  });
});

describe('H2Client', () => {
  it('never passes off a cut-short body as a response: stalled past the timeout, or cut off mid-body', async () => {
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.write('{"chargeId":');
      // '/cut' loses its connection mid-body; '/stall' sends nothing more.
      if (headers[':path'] === '/cut') setTimeout(() => stream.session!.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const client = new H2Client(`http://${host}:${(server.address() as { port: number }).port}`, undefined);
    try {
      await expect(client.request('GET', '/stall', {}, undefined, 200)).rejects.toThrow(/^no complete response from .*\/stall within 200 ms$/);
      await expect(client.request('GET', '/cut', {}, undefined, 10_000)).rejects.toThrow(/^incomplete response from .*\/cut \(stream closed, code \d+\)$/);
    } finally {
      client.close();
      server.close();
    }
  });
});
