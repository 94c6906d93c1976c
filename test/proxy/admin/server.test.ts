// The admin listener against real clients: metrics, probes, and who may shut the proxy down.
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { AdminServer } from '../../../proxy/admin/server.ts';
import { createLogger } from '../../../api/log.ts';
import { ProxyMetrics } from '../../../proxy/metrics/index.ts';
import { parsePrometheus } from '../../../api/prom-text.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const POD = `${NET}.10`;
const run = promisify(execFile);
const servers: AdminServer[] = [];
afterEach(async () => Promise.all(servers.splice(0).map((s) => s.close())));

function logLines() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger('admin', { destination, level: 'debug' }) };
}

async function start(overrides: Partial<ConstructorParameters<typeof AdminServer>[0]> = {}) {
  const { lines, logger } = logLines();
  let shutdowns = 0;
  const metrics = new ProxyMetrics();
  const admin = new AdminServer({
    host: POD,
    port: 0,
    metrics,
    isReady: () => true,
    onShutdown: () => shutdowns++,
    logger,
    ...overrides,
  });
  servers.push(admin);
  const address = await admin.listen();
  return { admin, metrics, lines, origin: `http://${POD}:${address.port}`, shutdowns: () => shutdowns };
}

/** A client bound to a chosen source address: how another pod on this machine would call. */
const from = (localAddress: string) => new Agent({ localAddress });

describe('AdminServer', () => {
  it('serves /metrics as Prometheus text, /live, and 404 elsewhere', async () => {
    const { origin, metrics } = await start();
    metrics.retried({ direction: 'outbound', authority: 'orders:8080', route: 'POST /orders' });
    const res = await request(`${origin}/metrics`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(await res.body.text());
    expect(samples.find((s) => s.name === 'retry_total')).toMatchObject({ value: 1, labels: { authority: 'orders:8080', route: 'POST /orders' } });
    expect(samples.find((s) => s.name === 'process_resident_memory_bytes')!.value).toBeGreaterThan(1e6);

    const live = await request(`${origin}/live`);
    expect([live.statusCode, await live.body.text()]).toEqual([200, 'live\n']);
    const missing = await request(`${origin}/nope?x=1`);
    expect(missing.statusCode).toBe(404);
    expect(await missing.body.text()).toMatch(/not found: \/nope/);
    const wrong = await request(`${origin}/metrics`, { method: 'DELETE' });
    expect([wrong.statusCode, wrong.headers.allow]).toEqual([405, 'GET, HEAD']);
    await wrong.body.text();
  });

  it('answers /ready with 200 or 503 and the reason, as isReady says now', async () => {
    let ready: true | string = 'no certificate yet (identity at 127.0.0.1:8080 unreachable)';
    const { origin } = await start({ isReady: () => ready });
    const before = await request(`${origin}/ready`);
    expect([before.statusCode, await before.body.text()]).toEqual([503, 'not ready: no certificate yet (identity at 127.0.0.1:8080 unreachable)\n']);
    ready = true;
    const after = await request(`${origin}/ready`);
    expect([after.statusCode, await after.body.text()]).toEqual([200, 'ready\n']);
  });

  it('answers 500 and logs when a readiness check throws, and keeps serving', async () => {
    const { origin, lines } = await start({ isReady: () => { throw new Error('boom'); } });
    const res = await request(`${origin}/ready`);
    expect([res.statusCode, await res.body.text()]).toEqual([500, 'internal error: boom\n']);
    expect(lines.some((l) => l.level === 'error' && l.msg === 'admin: request failed')).toBe(true);
    expect((await request(`${origin}/live`)).statusCode).toBe(200);
  });

  it('shuts down on POST /shutdown from the pod address or 127.0.0.1 (curl too)', async () => {
    const { origin, shutdowns, lines } = await start();
    const own = await request(`${origin}/shutdown`, { method: 'POST', dispatcher: from(POD) });
    expect([own.statusCode, await own.body.text()]).toEqual([200, 'shutdown\n']);
    await expect.poll(shutdowns).toBe(1);
    const { stdout } = await run('curl', ['-s', '-X', 'POST', '-w', ' %{http_code}', `${origin}/shutdown`]);
    expect(stdout).toBe('shutdown\n 200');
    await expect.poll(shutdowns).toBe(2);
    expect(lines.filter((l) => l.msg === 'admin: shutdown requested')).toHaveLength(2);
  });

  it('refuses POST /shutdown from another pod on this machine with 403 and the reason', async () => {
    const { origin, shutdowns, lines } = await start();
    const res = await request(`${origin}/shutdown`, { method: 'POST', dispatcher: from(`${NET}.11`) });
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toBe(`shutdown refused: caller ${NET}.11 is another pod's address, not this pod's (${POD})\n`);
    expect(shutdowns()).toBe(0);
    expect(lines.find((l) => l.msg === 'admin: refused POST /shutdown')).toMatchObject({ level: 'warn', peer: `${NET}.11` });
    const get = await request(`${origin}/shutdown`);
    expect(get.statusCode).toBe(405);
    await get.body.text();
  });

  // Needs a non-loopback interface to call from; skipped (and reported as skipped) on a machine without one.
  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  it.skipIf(!external)('refuses POST /shutdown from a non-loopback address', async () => {
    const { admin } = await start({ host: '0.0.0.0' });
    const port = (admin['server'].address() as { port: number }).port;
    const res = await request(`http://${external}:${port}/shutdown`, { method: 'POST', dispatcher: from(external!) });
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toBe(`shutdown refused: caller ${external} is not a loopback address (only the pod's own processes may shut the proxy down)\n`);
  });

  it('answers garbage with 400 and serves the next request', async () => {
    const { origin } = await start();
    const port = Number(new URL(origin).port);
    const { stdout } = await run('bash', ['-c', `exec 3<>/dev/tcp/${POD}/${port}; printf 'NOT HTTP AT ALL\\r\\n\\r\\n' >&3; head -c 200 <&3`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect((await request(`${origin}/live`)).statusCode).toBe(200);
  });

  it('says which address it could not listen on', async () => {
    const { admin } = await start();
    const { port } = admin['server'].address() as { port: number };
    const second = new AdminServer({ host: POD, port, metrics: new ProxyMetrics(), isReady: () => true, onShutdown: () => {}, logger: logLines().logger });
    await expect(second.listen()).rejects.toMatchObject({ code: 'EADDRINUSE', message: `admin: cannot listen on ${POD}:${port}: EADDRINUSE` });
  });
});
