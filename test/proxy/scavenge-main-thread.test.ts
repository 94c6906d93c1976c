// `mesh proxy` runs its scavenges (young-generation GCs) on the main thread alone (bin/mesh.js sets
// V8's --no-parallel-scavenge): two real proxy processes under traffic, traced by V8's
// `--trace-parallel-scavenge` (one line per scavenging task, naming its Scavenger) and `--trace-gc`
// (one line per finished GC). Each scavenge of either proxy had one task, the main thread's.
import { spawnSync } from 'node:child_process';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../helpers/apps.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { SCAVENGE_TRACE as TRACE, tasksPerScavenge } from '../helpers/scavenge-trace.ts';
import { startAppBehindTwoProxies, trafficRound, type AppBehindProxies, type ProxyHandle } from '../helpers/two-proxies.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';
let mesh: AppBehindProxies<Awaited<ReturnType<typeof startHttp1App>>>;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { mode: 'process', clientIp: `${NET}.1`, serverIp: `${NET}.2`, authority: AUTHORITY, nodeArgs: TRACE });
}, 60_000);

afterAll(async () => {
  await mesh?.close();
});

describe('scavenges of `mesh proxy`', () => {
  it('the trace tells one task from several: plain Node with the same 1 MB young generation scavenges with helper tasks', () => {
    // Without this, a trace that never printed more than one task would prove nothing.
    const allocate = 'const keep = []; let a = []; for (let i = 0; i < 2e6; i++) { a.push({ i, s: [i] }); if (a.length > 5000) { keep.push(a); a = []; if (keep.length > 20) keep.shift(); } }';
    const run = spawnSync(process.execPath, [...TRACE, '--semi-space-growth-factor=1', '-e', allocate], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(Math.max(...tasksPerScavenge(run.stdout))).toBeGreaterThan(1);
  });

  it('run on the main thread alone in both proxies, under traffic', async () => {
    const pool = new Pool(mesh.proxyUrl, { connections: 4 });
    const scavenges = (proxy: ProxyHandle) => tasksPerScavenge(proxy.stdout!());
    try {
      // Requests until each proxy has scavenged a few times (each request leaves some kilobytes).
      await expect.poll(async () => {
        await trafficRound(pool, AUTHORITY);
        return [mesh.outbound, mesh.inbound].every((proxy) => scavenges(proxy).length >= 5);
      }, { timeout: 90_000, interval: 0 }).toBe(true);
    } finally {
      await pool.close();
    }
    for (const proxy of [mesh.outbound, mesh.inbound]) {
      const counts = scavenges(proxy);
      // bin/mesh.js sets the flag before the proxy's modules load: start-up's scavenges count too.
      expect(new Set(counts)).toEqual(new Set([1]));
    }
  }, 120_000);
});
