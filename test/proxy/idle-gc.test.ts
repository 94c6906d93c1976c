// The proxy's idle GC (proxy/idle-gc.ts), on real `mesh proxy` processes: once a burst of requests
// ends it makes one full GC, never while requests keep flowing, and it neither keeps a process
// alive nor holds up shutdown.
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../helpers/apps.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { startTwoProxies, type ProxyHandle } from '../helpers/two-proxies.ts';

const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';
const REPO = new URL('../..', import.meta.url).pathname;
/** Short, so a test sees several checks; a window with more than 10 requests a second is busy. */
const INTERVAL_MS = 500;

let app: Awaited<ReturnType<typeof startHttp1App>>;
beforeAll(async () => {
  app = await startHttp1App(`${NET}.24`);
});
afterAll(async () => {
  await app?.close();
});

const collections = (p: ProxyHandle) => p.logs.filter((l) => l.msg === 'quiet: full GC');

/** A large header, parsed into a string on each side: each request in flight holds tens of KB of heap, so a burst grows it. */
const PAD = 'x'.repeat(16_000);

/** `workers` loops of GETs through the proxies until `until()` says stop; resolves with the count sent. */
async function flow(proxyUrl: string, workers: number, until: () => boolean): Promise<number> {
  const pool = new Pool(proxyUrl, { connections: workers });
  let sent = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!until()) {
        const res = await pool.request({ path: '/', method: 'GET', headers: { host: AUTHORITY, 'x-pad': PAD } });
        await res.body.text();
        expect(res.statusCode).toBe(200);
        sent++;
      }
    }),
  );
  await pool.close();
  return sent;
}

describe('idle GC', () => {
  it('after a burst, once requests stop: one full GC, which frees heap; then SIGTERM still exits 0', async () => {
    const mesh = await startTwoProxies({ mode: 'process', clientIp: `${NET}.23`, serverIp: `${NET}.24`, services: [{ authority: AUTHORITY, port: app.port }], args: ['--idle-gc-interval-ms', String(INTERVAL_MS)] });
    try {
      let sent = 0;
      await flow(mesh.proxyUrl, 50, () => ++sent > 6000);
      await expect.poll(() => collections(mesh.outbound).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
      const first = collections(mesh.outbound)[0]!;
      const [usedBefore, usedAfter] = first.usedMb as [number, number];
      expect(usedAfter).toBeLessThan(usedBefore);
      expect(first.requests as number).toBeLessThanOrEqual((10 * INTERVAL_MS) / 1000);
      process.kill(mesh.outbound.pid!, 'SIGTERM');
      expect(await mesh.outbound.exited).toBe(0);
    } finally {
      await mesh.close();
    }
  });

  it('start-up is collected too: a proxy quiet from its start makes one full GC in its first quiet window, whatever its heap grew', async () => {
    const mesh = await startTwoProxies({ mode: 'process', clientIp: `${NET}.26`, serverIp: `${NET}.24`, services: [{ authority: AUTHORITY, port: app.port }], args: ['--idle-gc-interval-ms', String(INTERVAL_MS)] });
    try {
      for (const proxy of [mesh.outbound, mesh.inbound]) {
        await expect.poll(() => collections(proxy).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
        // The first one came with no traffic at all: start-up's own garbage, not a burst's.
        expect(collections(proxy)[0]!.requests).toBe(0);
      }
      // Once: a proxy that stays quiet, with a heap that does not grow, is not collected again.
      const counts = [collections(mesh.outbound).length, collections(mesh.inbound).length];
      await new Promise((r) => setTimeout(r, 6 * INTERVAL_MS));
      expect([collections(mesh.outbound).length, collections(mesh.inbound).length]).toEqual(counts);
    } finally {
      await mesh.close();
    }
  });

  it('no full GC while requests keep flowing', async () => {
    const mesh = await startTwoProxies({ mode: 'process', clientIp: `${NET}.25`, serverIp: `${NET}.24`, services: [{ authority: AUTHORITY, port: app.port }], args: ['--idle-gc-interval-ms', String(INTERVAL_MS)] });
    try {
      // Warm up first: the start-up's heap may be collected before the flow is steady.
      let warm = 0;
      let steady: number | undefined;
      let flowingSince = 0;
      const sent = await flow(mesh.proxyUrl, 50, () => {
        warm++;
        if (warm === 400) {
          steady = collections(mesh.outbound).length + collections(mesh.inbound).length;
          flowingSince = Date.now();
        }
        // Eight checks' worth of steady flow.
        return steady !== undefined && Date.now() - flowingSince > 8 * INTERVAL_MS;
      });
      expect(sent).toBeGreaterThan(400);
      expect(collections(mesh.outbound).length + collections(mesh.inbound).length).toBe(steady);
      // The same proxies do collect once the flow stops: the check above could have failed.
      await expect.poll(() => collections(mesh.outbound).length + collections(mesh.inbound).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(steady!);
    } finally {
      await mesh.close();
    }
  });

  it('its timer does not keep a process alive', async () => {
    const child = spawn(process.execPath, ['bin/run.js', 'test/proxy/fixtures/idle-gc-alone.ts'], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // A timer that held the process would keep it running: give up on it after a generous wait.
    const hung = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(hung);
    expect(out).toContain('alone: done');
    expect(code).toBe(0);
  });
});
