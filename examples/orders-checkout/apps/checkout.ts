// checkout: the front service (HTTP/1.1 JSON). It places orders at orders over HTTP and reads
// them back over HTTP and gRPC, always through its sidecar: undici sends absolute-form requests
// to HTTP_PROXY, and grpc-js opens a CONNECT tunnel to grpc_proxy.
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { BadRequest, portFromEnv, readJsonBody, runMain } from './app-env.ts';
import { closeServer, listen } from './http-listen.ts';
import { healthPackage, ordersPackage } from './grpc-protos.ts';
import { requestIdOf } from './request-id.ts';

export interface CheckoutOptions {
  host: string;
  port: number;
  /** `http://orders.production.svc.cluster.local:8080`, or a direct address in tests. */
  ordersUrl: string;
  /** `orders.production.svc.cluster.local:9090`; grpc-js reaches it through grpc_proxy when set. */
  ordersGrpcTarget: string;
  log: Logger;
}

const grpcToHttp: Partial<Record<number, number>> = {
  [grpc.status.NOT_FOUND]: 404, [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.DEADLINE_EXCEEDED]: 504, [grpc.status.UNAVAILABLE]: 503,
};

export async function startCheckout(opts: CheckoutOptions) {
  // proxyTunnel: false makes undici send plain HTTP to the proxy in absolute-form, not CONNECT,
  // so the sidecar sees each request and can route, retry and time it out.
  const dispatcher: Dispatcher = new EnvHttpProxyAgent({ proxyTunnel: false });
  const orders = new (ordersPackage().Orders)(opts.ordersGrpcTarget, grpc.credentials.createInsecure());
  const health = new (healthPackage().Health)(opts.ordersGrpcTarget, grpc.credentials.createInsecure());

  const callOrders = async (method: 'GET' | 'POST', path: string, body?: unknown, requestId?: string) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    // The caller's request id goes on, so one request can be followed across every hop (tap, journey).
    if (requestId) headers['x-request-id'] = requestId;
    const res = await request(`${opts.ordersUrl}${path}`, {
      method, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = { error: text }; }
    return { status: res.statusCode, proxyError: res.headers['l5d-proxy-error'] ?? null, json: json as Record<string, unknown> };
  };
  const unary = <T>(client: grpc.Client, name: string, req: unknown) =>
    new Promise<T>((resolve, reject) => {
      (client as unknown as Record<string, Function>)[name](req, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
    });

  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const caller = req.headers['l5d-client-id'] ?? null;
    const requestId = requestIdOf(req.headers['x-request-id']);
    const handle = async () => {
      const url = new URL(req.url ?? '/', 'http://checkout');
      if (req.method === 'POST' && url.pathname === '/checkout') {
        const input = await readJsonBody(req);
        const placed = await callOrders('POST', '/orders', input, requestId);
        if (placed.status !== 201) {
          const error = placed.status === 504 ? 'orders did not answer in time' : placed.status >= 500 ? 'orders failed' : 'orders refused the order';
          // 5xx keep their status (a timeout stays a 504); a 400 is the caller's; any other answer is ours to explain.
          return reply(placed.status >= 500 || placed.status === 400 ? placed.status : 502, { error, ordersStatus: placed.status, proxyError: placed.proxyError, detail: placed.json });
        }
        const { order, servedBy, callerIdentity, paymentsSawCaller } = placed.json;
        return reply(201, { order, servedBy, hops: { checkoutSawCaller: caller, ordersSawCaller: callerIdentity, paymentsSawCaller } });
      }
      const one = /^\/orders\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && one) {
        const got = await callOrders('GET', `/orders/${one[1]}`, undefined, requestId);
        return reply(got.status, { ...got.json, proxyError: got.proxyError });
      }
      if (req.method === 'GET' && url.pathname === '/orders') {
        const listed = await unary<{ orders: unknown[] }>(orders, 'listOrders', { limit: 10 });
        return reply(200, { via: 'grpc', orders: listed.orders });
      }
      if (req.method === 'GET' && url.pathname === '/orders-health') {
        const checked = await unary<{ status: string }>(health, 'check', { service: 'orders.v1.Orders' });
        return reply(200, { via: 'grpc.health.v1.Health/Check', service: 'orders.v1.Orders', status: checked.status });
      }
      if (req.method === 'GET' && url.pathname === '/healthz') return reply(200, { ok: true });
      reply(404, { error: `no route for ${req.method} ${url.pathname}; try POST /checkout, GET /orders/{id}, GET /orders, GET /orders-health` });
    };
    handle().catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof BadRequest) return reply(400, { error: err.message });
      const grpcCode = (err as { code?: unknown }).code;
      if (typeof grpcCode === 'number' && 'details' in (err as object)) {
        return reply(grpcToHttp[grpcCode] ?? 502, { error: `orders gRPC: ${(err as grpc.ServiceError).details}`, grpcStatus: grpc.status[grpcCode] });
      }
      opts.log.error({ err: String(err) }, 'request failed');
      reply(502, { error: err instanceof Error ? err.message : String(err) });
    });
  });

  const port = await listen(server, opts.port, opts.host);
  return {
    port,
    close: async () => {
      orders.close();
      health.close();
      await closeServer(server);
      await dispatcher.close();
    },
  };
}

runMain(import.meta.url, 'checkout', async (env) => {
  const started = await startCheckout({
    host: env.podIp,
    port: portFromEnv('PORT', 8080),
    ordersUrl: process.env.ORDERS_URL || 'http://orders.production.svc.cluster.local:8080',
    ordersGrpcTarget: process.env.ORDERS_GRPC_TARGET || 'orders.production.svc.cluster.local:9090',
    log: env.log,
  });
  env.log.info({ address: `${env.podIp}:${started.port}` }, 'checkout listening');
});
