// rogue: a workload with its own service account that keeps calling orders' gRPC port, which
// only checkout may call. Each refusal is logged, and counted at GET /stats, so a learner can
// watch the authorization policy at work.
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { numberFromEnv, portFromEnv, runMain } from './app-env.ts';
import { closeServer, listen } from './http-listen.ts';
import { ordersPackage } from './grpc-protos.ts';

export interface RogueStats {
  /** Calls started, answered or not. */
  attempts: number;
  /** Calls started and not answered yet: attempts = inFlight + refused + allowed + otherErrors. */
  inFlight: number;
  refused: number;
  allowed: number;
  otherErrors: number;
  last?: { at: string; outcome: string; detail: string };
}

export async function startRogue(opts: { host: string; port: number; target: string; intervalMs: number; log: Logger }) {
  const stats: RogueStats = { attempts: 0, inFlight: 0, refused: 0, allowed: 0, otherErrors: 0 };
  const orders = new (ordersPackage().Orders)(opts.target, grpc.credentials.createInsecure());

  const attempt = () => {
    stats.attempts++;
    stats.inFlight++;
    orders.listOrders({ limit: 1 }, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null) => {
      stats.inFlight--;
      const at = new Date().toISOString();
      if (!err) {
        stats.allowed++;
        stats.last = { at, outcome: 'allowed', detail: 'orders answered: the policy did NOT stop us' };
        return opts.log.error({ target: opts.target }, 'orders answered a caller it should refuse');
      }
      if (err.code === grpc.status.PERMISSION_DENIED) {
        stats.refused++;
        stats.last = { at, outcome: 'refused', detail: err.details };
        return opts.log.info({ target: opts.target, grpcStatus: 'PERMISSION_DENIED', details: err.details }, 'refused by orders, as the policy says');
      }
      stats.otherErrors++;
      stats.last = { at, outcome: grpc.status[err.code] ?? String(err.code), detail: err.details };
      opts.log.warn({ target: opts.target, grpcStatus: grpc.status[err.code], details: err.details }, 'call failed for another reason');
    });
  };
  const timer = setInterval(attempt, opts.intervalMs);
  attempt();

  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/stats' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url === '/stats' ? stats : { error: 'try GET /stats' }));
  });
  const port = await listen(server, opts.port, opts.host);
  return {
    port,
    stats,
    close: async () => {
      clearInterval(timer);
      orders.close();
      await closeServer(server);
    },
  };
}

runMain(import.meta.url, 'rogue', async (env) => {
  const started = await startRogue({
    host: env.podIp,
    port: portFromEnv('PORT', 8080),
    target: process.env.ORDERS_GRPC_TARGET || 'orders.production.svc.cluster.local:9090',
    intervalMs: numberFromEnv('ROGUE_INTERVAL_MS', 2000, { min: 50, max: 3_600_000 }),
    log: env.log,
  });
  env.log.info({ stats: `http://${env.podIp}:${started.port}/stats` }, 'rogue started: calling orders gRPC, expecting refusals');
});
