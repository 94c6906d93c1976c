// payments: an HTTP/2 (h2c) service that charges orders, failing and slowing down on purpose so
// the mesh's retries and timeouts have something to absorb. Tuned at run time by POST /config.
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { BadRequest, numberFromEnv, portFromEnv, readJsonBody, runMain, type AppEnv } from './app-env.ts';

export interface PaymentsSettings {
  /** Share of charges answered 503 before anything is charged (0..1). */
  failureRate: number;
  /** Delay before every answer, in milliseconds. */
  latencyMs: number;
}

/** Charges already made, by idempotency key: a retried charge returns the first result. */
const maxRemembered = 10_000;

export function startPayments(opts: { host: string; port: number; settings: PaymentsSettings; log: AppEnv['log'] }) {
  const settings = { ...opts.settings };
  const charges = new Map<string, { chargeId: string; amountCents: number }>();
  const server = http2.createServer();
  server.on('sessionError', (err) => opts.log.warn({ err: err.message }, 'h2 session error'));

  server.on('stream', (stream, headers) => {
    stream.on('error', (err) => opts.log.warn({ err: err.message }, 'h2 stream error'));
    const method = headers[':method'];
    const path = headers[':path'];
    const caller = headers['l5d-client-id'] ?? null;
    const reply = (status: number, body: unknown) => {
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(JSON.stringify(body));
    };
    const handle = async () => {
      if (method === 'POST' && path === '/charge') {
        const input = await readJsonBody(stream);
        if (typeof input !== 'object' || input === null) throw new BadRequest('a charge is a JSON object like {"orderId":"o_1","amountCents":100}');
        const body = input as { orderId?: unknown; amountCents?: unknown };
        const key = String(headers['idempotency-key'] ?? body.orderId ?? '');
        if (!key) throw new BadRequest('a charge needs an idempotency-key header or an orderId');
        if (typeof body.amountCents !== 'number' || !(body.amountCents >= 0)) throw new BadRequest('amountCents must be a number >= 0');
        await delay(settings.latencyMs);
        // Fail before charging, so a retry (same idempotency key) can never charge twice.
        if (Math.random() < settings.failureRate) {
          return reply(503, { error: 'payments temporarily unavailable (simulated failure)', callerIdentity: caller });
        }
        let charge = charges.get(key);
        if (!charge) {
          if (charges.size >= maxRemembered) charges.delete(charges.keys().next().value!);
          charge = { chargeId: `ch_${randomUUID().slice(0, 8)}`, amountCents: body.amountCents };
          charges.set(key, charge);
        }
        return reply(200, { ...charge, callerIdentity: caller });
      }
      if (path === '/config' && method === 'GET') return reply(200, settings);
      if (path === '/config' && method === 'POST') {
        const next = parseSettings(await readJsonBody(stream), settings);
        Object.assign(settings, next);
        opts.log.info(settings, 'settings changed');
        return reply(200, settings);
      }
      reply(404, { error: `no route for ${method} ${path}` });
    };
    handle().catch((err: unknown) => {
      const status = err instanceof BadRequest ? 400 : 500;
      if (status === 500) opts.log.error({ err: String(err) }, 'request failed');
      reply(status, { error: err instanceof Error ? err.message : String(err) });
    });
  });

  return new Promise<{ server: http2.Http2Server; port: number; settings: PaymentsSettings }>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : opts.port, settings });
    });
  });
}

function parseSettings(input: unknown, current: PaymentsSettings): PaymentsSettings {
  if (typeof input !== 'object' || input === null) throw new BadRequest('expected a JSON object');
  const { failureRate = current.failureRate, latencyMs = current.latencyMs, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new BadRequest(`unknown setting(s) ${unknown.join(', ')}; known: failureRate, latencyMs`);
  if (typeof failureRate !== 'number' || failureRate < 0 || failureRate > 1) throw new BadRequest('failureRate must be a number from 0 to 1');
  if (typeof latencyMs !== 'number' || latencyMs < 0 || latencyMs > 60_000) throw new BadRequest('latencyMs must be a number from 0 to 60000');
  return { failureRate, latencyMs };
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

runMain(import.meta.url, 'payments', async (env) => {
  const settings = {
    failureRate: numberFromEnv('PAYMENTS_FAILURE_RATE', 0, { min: 0, max: 1 }),
    latencyMs: numberFromEnv('PAYMENTS_LATENCY_MS', 0, { min: 0, max: 60_000 }),
  };
  const port = portFromEnv('PORT', 8080);
  await startPayments({ host: env.podIp, port, settings, log: env.log });
  env.log.info({ address: `${env.podIp}:${port}`, ...settings }, 'payments listening (h2c)');
});
