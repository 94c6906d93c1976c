// The admin listener against real clients: metrics, probes, and who may shut the proxy down.
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
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
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
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
    // stdin/stdout/stderr and the listening sockets at least; a soak watches these for leaks.
    expect(samples.find((s) => s.name === 'process_open_fds')!.value).toBeGreaterThan(3);
    expect(samples.find((s) => s.name === 'nodejs_active_resources_total')!.value).toBeGreaterThan(0);

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

  // A caller off the machine needs an address that is not loopback: the fixture runs in a network
  // namespace of its own (gone when it exits), where a veth pair gives it 10.91.0.1 and 10.91.0.2.
  // Root makes the namespace directly; anyone else through a user namespace (--map-root-user).
  it('refuses POST /shutdown from a non-loopback address (in a network namespace of its own)', async () => {
    const setup = [
      'set -e', 'ip link set lo up', 'ip link add v0 type veth peer name v1',
      'ip addr add 10.91.0.1/24 dev v0', 'ip addr add 10.91.0.2/24 dev v1', 'ip link set v0 up', 'ip link set v1 up',
      `exec "${process.execPath}" --import tsx "${fileURLToPath(new URL('./fixtures/shutdown-from-outside.ts', import.meta.url))}" 10.91.0.1 10.91.0.2`,
    ].join('; ');
    const userns = process.getuid?.() === 0 ? [] : ['--map-root-user'];
    const { stdout } = await run('unshare', [...userns, '--net', '--', 'sh', '-c', setup], { cwd: REPO });
    const { fromOutside, fromLoopback, lines } = JSON.parse(stdout) as {
      fromOutside: { status: number; body: string; shutdowns: number };
      fromLoopback: { status: number; body: string; shutdowns: number };
      lines: Array<Record<string, unknown>>;
    };
    expect(fromOutside).toEqual({
      status: 403, shutdowns: 0,
      body: 'shutdown refused: caller 10.91.0.2 is not a loopback address (only the pod\'s own processes may shut the proxy down)\n',
    });
    expect(lines.find((l) => l.msg === 'admin: refused POST /shutdown')).toMatchObject({ level: 'warn', peer: '10.91.0.2' });
    // The same server, the same request from loopback: accepted, so the address made the refusal.
    expect(fromLoopback).toMatchObject({ status: 200, shutdowns: 1 });
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
