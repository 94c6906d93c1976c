// `mesh proxy` keeps V8's optimizing compiler off while it starts and turns it on once it has
// (bin/mesh.js, on cli/commands/proxy.ts's `mesh:proxy-started`): two real proxy processes run
// with V8's `--trace-opt`, which prints each function it optimizes to standard output, beside the
// proxy's JSON log lines. Nothing is optimized before "proxy listening" (the end of start-up);
// after some traffic, functions of the proxy's own request path are.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../helpers/apps.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { startAppBehindTwoProxies, trafficRound, type AppBehindProxies, type ProxyHandle } from '../helpers/two-proxies.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';
/** What `--trace-opt` prints when a function has been optimized, with the function's name. */
const OPTIMIZED = /\[completed optimizing 0x[0-9a-f]+ <JSFunction ([^ >]+)/g;
/**
 * Functions of the request path, in the proxy's own files: the HTTP/1 edge's head parser (both
 * proxies, proxy/http/http1-head.ts) and the metrics layer's count of each response (both,
 * proxy/metrics/request-layer.ts). Each runs once or more per request.
 */
const REQUEST_PATH = ['readHttp1Head', 'recordResponse'];

let mesh: AppBehindProxies<Awaited<ReturnType<typeof startHttp1App>>>;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { mode: 'process', clientIp: `${NET}.1`, serverIp: `${NET}.2`, authority: AUTHORITY, nodeArgs: ['--trace-opt'] });
}, 60_000);

afterAll(async () => {
  await mesh?.close();
});

/** The names of the functions `proxy` has optimized so far, by its trace. */
function optimized(proxy: ProxyHandle): string[] {
  return [...proxy.stdout!().matchAll(OPTIMIZED)].map((m) => m[1]!);
}

describe('the optimizing compiler of `mesh proxy`', () => {
  it('is off until start-up ends: no function is optimized before the proxy says it is listening', () => {
    for (const proxy of [mesh.outbound, mesh.inbound]) {
      const out = proxy.stdout!();
      const listening = out.indexOf('"msg":"proxy listening"');
      expect(listening).toBeGreaterThan(0);
      // The trace names its tier: with the compiler on during start-up, some 15-30 functions of the
      // module loader and of protobufjs's parser show up here.
      expect(out.slice(0, listening)).not.toMatch(/TURBOFAN|MAGLEV/);
    }
  });

  it("is on once the proxy has started: after some traffic, functions of both proxies' request path are optimized", async () => {
    const pool = new Pool(mesh.proxyUrl, { connections: 4 });
    try {
      // Rounds of requests until both proxies report each function optimized: how many requests
      // V8 waits for depends on the machine's load, so the test waits for the trace, not a count.
      await expect.poll(async () => {
        await trafficRound(pool, AUTHORITY);
        return [mesh.outbound, mesh.inbound].map((proxy) => REQUEST_PATH.filter((name) => optimized(proxy).includes(name)));
      }, { timeout: 90_000, interval: 0 }).toEqual([REQUEST_PATH, REQUEST_PATH]);
    } finally {
      await pool.close();
    }
  }, 120_000);
});
