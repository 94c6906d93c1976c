// orders: HTTP on 8080 (POST /orders, GET /orders/{id}) and gRPC on 9090 (orders.v1.Orders plus
// grpc.health.v1.Health). Stable and canary run this same code; ORDERS_VERSION tells them apart.
// Each new order is charged at payments over HTTP/2, through the sidecar.
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BadRequest, portFromEnv, readJsonBody, runMain } from './app-env.ts';
import { closeServer, listen } from './http-listen.ts';
import { ordersPackage } from './grpc-protos.ts';
import { HealthService } from './grpc-health.ts';
import { H2Client } from './h2-client.ts';
import { newOrder, orderFromId, parseOrderInput, toMessage, type Order } from './order-record.ts';
import { requestIdOf } from './request-id.ts';

export interface OrdersOptions {
  host: string;
  httpPort: number;
  grpcPort: number;
  version: string;
  /** `http://payments.production.svc.cluster.local:8080`, or a direct address in tests. */
  paymentsUrl: string;
  /** The sidecar's outbound address (from HTTP_PROXY); undefined connects to paymentsUrl directly. */
  proxy: string | undefined;
  log: Logger;
}

/** The order id in a request path: percent-decoded, or the caller's mistake (400), not a 502. */
function orderIdIn(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest(`order id "${segment}" is not valid percent-encoding`);
  }
}

export async function startOrders(opts: OrdersOptions) {
  const payments = new H2Client(opts.paymentsUrl, opts.proxy);
  const recent: Order[] = [];

  const http1 = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const caller = req.headers['l5d-client-id'] ?? null;
    const requestId = requestIdOf(req.headers['x-request-id']);
    const handle = async () => {
      const url = new URL(req.url ?? '/', 'http://orders');
      if (req.method === 'POST' && url.pathname === '/orders') {
        const input = parseOrderInput(await readJsonBody(req));
        if (typeof input === 'string') throw new BadRequest(input);
        const order = newOrder(input.item, input.quantity, opts.version);
        const charge = await payments.request('POST', '/charge',
          { 'content-type': 'application/json', 'idempotency-key': order.id, ...(requestId ? { 'x-request-id': requestId } : {}) },
          JSON.stringify({ orderId: order.id, amountCents: order.amountCents }), 30_000);
        if (charge.status !== 200) {
          opts.log.warn({ status: charge.status, proxyError: charge.headers['l5d-proxy-error'] }, 'payment failed');
          // A timeout stays a timeout for the caller; any other failure is a bad gateway.
          return reply(charge.status === 504 ? 504 : 502, {
            error: 'payment failed', paymentsStatus: charge.status,
            proxyError: charge.headers['l5d-proxy-error'] ?? null, servedBy: opts.version,
          });
        }
        recent.unshift(order);
        recent.length = Math.min(recent.length, 100);
        const paid = JSON.parse(charge.body) as { chargeId: string; callerIdentity: string | null };
        return reply(201, { order, chargeId: paid.chargeId, servedBy: opts.version, callerIdentity: caller, paymentsSawCaller: paid.callerIdentity });
      }
      const match = /^\/orders\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && match) {
        const order = orderFromId(orderIdIn(match[1]!));
        if (!order) return reply(404, { error: `no order "${match[1]}"` });
        return reply(200, { order, servedBy: opts.version, callerIdentity: caller });
      }
      if (req.method === 'GET' && url.pathname === '/healthz') return reply(200, { ok: true, version: opts.version });
      reply(404, { error: `no route for ${req.method} ${url.pathname}` });
    };
    handle().catch((err: unknown) => {
      if (!(err instanceof BadRequest)) opts.log.error({ err: String(err) }, 'request failed');
      if (!res.headersSent) reply(err instanceof BadRequest ? 400 : 502, { error: err instanceof Error ? err.message : String(err), servedBy: opts.version });
    });
  });

  const grpcServer = new grpc.Server();
  grpcServer.addService(ordersPackage().Orders.service, {
    getOrder: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, done: grpc.sendUnaryData<unknown>) => {
      const order = orderFromId(call.request.id);
      if (!order) return done({ code: grpc.status.NOT_FOUND, details: `no order "${call.request.id}"` });
      done(null, toMessage(order, opts.version));
    },
    listOrders: (call: grpc.ServerUnaryCall<{ limit: number }, unknown>, done: grpc.sendUnaryData<unknown>) => {
      const limit = Math.min(call.request.limit || 20, 100);
      done(null, { orders: recent.slice(0, limit).map((o) => toMessage(o, opts.version)) });
    },
  });
  new HealthService(['orders.v1.Orders']).addTo(grpcServer);

  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync(`${opts.host}:${opts.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(new Error(`gRPC port ${opts.host}:${opts.grpcPort}: ${err.message}`, { cause: err })) : resolve(port));
  });
  const httpPort = await listen(http1, opts.httpPort, opts.host);
  return {
    httpPort,
    grpcPort,
    close: async () => {
      payments.close();
      grpcServer.forceShutdown();
      await closeServer(http1);
    },
  };
}

// stable or canary: the app's name in its logs and in a startup failure.
const version = process.env.ORDERS_VERSION || 'stable';
runMain(import.meta.url, `orders-${version}`, async (env) => {
  const started = await startOrders({
    host: env.podIp,
    httpPort: portFromEnv('HTTP_PORT', 8080),
    grpcPort: portFromEnv('GRPC_PORT', 9090),
    version,
    paymentsUrl: process.env.PAYMENTS_URL || 'http://payments.production.svc.cluster.local:8080',
    proxy: process.env.HTTP_PROXY || process.env.http_proxy || undefined,
    log: env.log,
  });
  env.log.info({ http: `${env.podIp}:${started.httpPort}`, grpc: `${env.podIp}:${started.grpcPort}`, version }, 'orders listening');
});
