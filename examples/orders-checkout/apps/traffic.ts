// traffic: a gentle load (a few requests a second) through the ingress, so the dashboards and
// metrics have something to show the moment the demo is up. It sits outside the mesh, as a user.
import { request } from 'undici';
import type { Logger } from 'pino';
import { numberFromEnv, runMain } from './app-env.ts';
import { newRequestId } from './request-id.ts';

const items = ['book', 'lamp', 'mug', 'chair', 'plant'];

export function startTraffic(opts: { target: string; ratePerSecond: number; log: Logger }) {
  // `failed`: no good answer (an error status, or none in time); `unreachable`, counted in it too:
  // the front door refused the connection, which is what an app started before the mesh sees.
  const counts = { sent: 0, ok: 0, failed: 0, unreachable: 0 };
  let lastOrderId: string | undefined;
  let tick = 0;

  const one = async () => {
    tick++;
    // Mostly checkouts; every few ticks read an order back (HTTP) or list orders (gRPC).
    const kind = tick % 5 === 3 && lastOrderId ? 'get' : tick % 5 === 4 ? 'list' : 'checkout';
    const path = kind === 'get' ? `/orders/${lastOrderId}` : kind === 'list' ? '/orders' : '/checkout';
    counts.sent++;
    try {
      const res = await request(`${opts.target}${path}`, {
        method: kind === 'checkout' ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json', 'x-request-id': newRequestId() },
        body: kind === 'checkout' ? JSON.stringify({ item: items[tick % items.length], quantity: 1 + (tick % 3) }) : undefined,
        headersTimeout: 10_000, bodyTimeout: 10_000,
      });
      const body = (await res.body.json().catch(() => ({}))) as { order?: { id?: string } };
      if (res.statusCode < 400) {
        counts.ok++;
        if (body.order?.id) lastOrderId = body.order.id;
      } else {
        counts.failed++;
      }
    } catch (err) {
      counts.failed++;
      if (['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH'].includes((err as { code?: string }).code ?? '')) counts.unreachable++;
      opts.log.debug({ err: String(err), path }, 'request failed');
    }
  };
  const timer = setInterval(() => void one(), 1000 / opts.ratePerSecond);
  const report = setInterval(() => opts.log.info(counts, 'traffic so far'), 30_000);
  return { counts, stop: () => { clearInterval(timer); clearInterval(report); } };
}

runMain(import.meta.url, 'traffic', async (env) => {
  const target = process.env.TRAFFIC_TARGET || process.env.INGRESS_URL || 'http://127.0.0.1:8000';
  const ratePerSecond = numberFromEnv('TRAFFIC_RPS', 2, { min: 0.1, max: 1000 });
  startTraffic({ target, ratePerSecond, log: env.log });
  env.log.info({ target, ratePerSecond }, 'traffic generator started');
});
