// Mode demo: the orders/checkout demo (ingress -> checkout -> orders -> payments, every hop
// through two proxies over mTLS) under load, started the way a user starts it, next to the
// two-proxy figures of the latest http1 run.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRun, type RunRecord } from '../examples/orders-checkout/runner/state.ts';
import { scrapeAll, workloadStats } from '../examples/orders-checkout/runner/golden-metrics.ts';
import { runLoad, type LoadResult } from './load.ts';
import type { BenchMode } from './mode.ts';
import { runPaced } from './paced-load.ts';
import { memoryOf, meshProcess, RssSampler } from './processes.ts';
import { LOAD_HEADERS, loadRow, mb, RESULTS_FILE, table } from './report.ts';

/** The demo's addresses move into the bench's own /24 (pods 127.0.23.N, the ingress proxy's front door 127.0.23.1:8000). */
const DEMO_NET = '127.0.23';
/** The demo path does four proxy hops and retries: a fixed rate it can hold on a 2-core machine. */
const DEMO_RATE = 100;
/** How long the demo runs with only its own traffic generator (a few requests a second) before its proxies' idle RSS is read. */
const IDLE_SECONDS = 30;
const CHECKOUT = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'book', quantity: 1 }) };

export const demoMode: BenchMode = {
  name: 'demo',
  summary: 'the orders/checkout demo under load through its front door, the ingress proxy (POST /checkout)',
  async run(ctx) {
    const stateDir = join(ctx.logDir, 'state');
    ctx.log(`starting the demo (mesh demo --state ${stateDir}, MESH_DEMO_NET=${DEMO_NET})...`);
    const runner = meshProcess('demo', ['demo', '--state', stateDir, '--ready-timeout', '90'], ctx.logDir, { MESH_DEMO_NET: DEMO_NET });
    ctx.onCleanup(() => runner.stop(15_000));
    const run = await waitForDemo(stateDir, () => runner.running, () => runner.tail(), 120_000);
    const url = `${run.ingressUrl}/checkout`;
    // Every proxy: the sidecars and the front door (`mesh proxy --ingress`).
    const proxies = run.processes.filter((p) => p.role === 'sidecar' || p.role === 'ingress').map((p) => ({ name: p.name, pid: p.pid }));

    ctx.log(`idle: the demo's own few requests a second for ${IDLE_SECONDS} s, then each proxy's RSS...`);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idle = Object.fromEntries(proxies.map((p) => [p.name, memoryOf(p.pid).rss]));
    // What a user runs: `npm run load` (mesh load: autocannon, 20 connections, 10 s), as its own process.
    ctx.log('`mesh load` (npm run load: 20 connections, 10 s), each proxy\'s RSS polled...');
    const loadSampler = new RssSampler(proxies);
    const meshLoad = meshProcess('mesh-load', ['load', '--state', stateDir], ctx.logDir);
    const loadExit = await meshLoad.whenExited();
    const underMeshLoad = loadSampler.stop();
    if (loadExit !== 0) ctx.log(`mesh load exited with ${loadExit}:\n${meshLoad.tail()}`);

    ctx.log(`warming up against POST ${url}...`);
    await runLoad({ title: 'warmup', url, ...CHECKOUT, connections: ctx.connections, durationSeconds: 3 });
    ctx.log(`saturating run: ${ctx.connections} connections, ${ctx.durationSeconds} s...`);
    const before = await scrapeAll(run.pods);
    const sampler = new RssSampler(proxies);
    const started = Date.now();
    const saturating = await runLoad({ title: `demo, ${ctx.connections} conns`, url, ...CHECKOUT, connections: ctx.connections, durationSeconds: ctx.durationSeconds });
    const seconds = (Date.now() - started) / 1000;
    const memory = sampler.stop();
    const after = await scrapeAll(run.pods);
    ctx.log(`fixed-rate run: ${DEMO_RATE} req/s paced evenly (paced-load.ts), ${ctx.durationSeconds} s...`);
    const fixed = await runPaced({ title: `demo, ${DEMO_RATE} req/s paced`, url, ...CHECKOUT, connections: 5, durationSeconds: ctx.durationSeconds, rate: DEMO_RATE });

    const perWorkload = workloadStats(run.pods, before, after, seconds);
    const twoProxy = lastTwoProxyFigures();
    ctx.log('');
    ctx.log('the demo path (client -> ingress proxy -> checkout -> orders -> payments: 6 passes through 4 proxies, 3 mTLS hops, retries)');
    ctx.log(twoProxy
      ? `next to the two-proxy path (client -> outbound -> mTLS -> inbound -> server) of the last http1 run (${twoProxy.at}):`
      : 'no http1 run in bench/results.json yet: run `npm run bench` for the two-proxy figures beside these');
    ctx.log(table(LOAD_HEADERS, [
      ...[saturating, fixed].map((r) => loadRow({ ...r, title: `demo path, ${r.title.replace(/^demo, /, '')}` })),
      ...(twoProxy?.runs ?? []).map((r) => loadRow({ ...r, title: `two proxies, ${r.title.replace(/^mesh, /, '')}` })),
      ...(twoProxy?.direct ? [loadRow({ ...twoProxy.direct, title: `no proxy, ${twoProxy.direct.title.replace(/^direct, /, '')}` })] : []),
    ]));
    ctx.log('');
    ctx.log('per workload during the saturating run, from its proxies\' inbound metrics:');
    ctx.log(
      table(
        ['workload', 'requests', 'success %', 'req/s', 'p50 ms', 'p99 ms', 'retries sent'],
        perWorkload.map((w) => [w.workload, w.requests, w.successRate === undefined ? NaN : w.successRate * 100, w.requestsPerSecond, w.p50Ms ?? NaN, w.p99Ms ?? NaN, w.retriesSent]),
      ),
    );
    ctx.log('');
    ctx.log(`each proxy's RSS: idle (after ${IDLE_SECONDS} s of the demo's own traffic), peak under \`mesh load\`, peak under the saturating run (polled, and VmHWM, the high-water mark since start)`);
    ctx.log(table(
      ['proxy', 'idle MB', 'mesh load peak MB', 'saturating peak MB', 'VmHWM MB'],
      Object.entries(memory).map(([name, m]) => [name, mb(idle[name] ?? NaN), mb(underMeshLoad[name]?.peakRssBytes ?? NaN), mb(m.peakRssBytes), mb(m.vmHwmBytes)]),
    ));
    return { saturating, fixedRate: fixed, perWorkload, memory, idleRssBytes: idle, meshLoadMemory: underMeshLoad };
  },
};

/** Waits for the runner's pods.json, which it writes once every proxy and app is ready. */
async function waitForDemo(stateDir: string, running: () => boolean, tail: () => string, timeoutMs: number): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running()) throw new Error(`the demo exited before it was ready:\n${tail()}`);
    if (existsSync(join(stateDir, 'pods.json'))) return readRun(stateDir);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the demo was not ready within ${timeoutMs / 1000} s:\n${tail()}`);
}

/** The two-proxy (and direct) figures of the last http1 run, if any, to print beside the demo's. */
function lastTwoProxyFigures(): { at: string; runs: LoadResult[]; direct?: LoadResult } | undefined {
  try {
    const all = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as {
      http1?: { at?: string; mesh?: { saturating: LoadResult; fixedRate: LoadResult }; direct?: { saturating: LoadResult } };
    };
    const http1 = all.http1;
    if (!http1?.mesh) return undefined;
    return { at: http1.at ?? 'unknown time', runs: [http1.mesh.saturating, http1.mesh.fixedRate], direct: http1.direct?.saturating };
  } catch {
    return undefined;
  }
}
