// Mode soak: the demo at a fixed rate through its ingress for a long time (`--duration 30m`),
// each proxy's RSS recorded every 10 s; prints each proxy's growth after the warm-up (the first
// 5 minutes, or the first sixth of a shorter run) and its trend. Goal: flat, < 5 MB per proxy.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readRun, type RunRecord } from '../examples/orders-checkout/runner/state.ts';
import type { BenchMode } from './mode.ts';
import { runPaced } from './paced-load.ts';
import { memoryOf, meshProcess } from './processes.ts';
import { mb, table } from './report.ts';

const REPO = new URL('..', import.meta.url).pathname;
/** The soak's own loopback /24, so it runs beside a learner's demo and the other bench modes. */
const SOAK_NET = '127.0.33';
/** 1000 is the saturating modes' default --rate; the demo path holds about 100/s on 2 cores, so the soak runs at 50/s unless told otherwise. */
const DEFAULT_RATE = 50;
const SAMPLE_MS = 10_000;
const CHECKOUT = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'book', quantity: 1 }) };

interface Series {
  name: string;
  /** [seconds since the load started, RSS bytes] */
  points: Array<[number, number]>;
  pids: Set<number>;
}

export const soakMode: BenchMode = {
  name: 'soak',
  summary: 'the demo at a fixed rate for a long time; each proxy\'s RSS every 10 s and its growth after the warm-up',
  async available() {
    return existsSync(join(REPO, 'cli/commands/demo.ts')) ? true : 'the demo runner does not exist yet';
  },
  async run(ctx) {
    const rate = ctx.rate === 1000 ? DEFAULT_RATE : ctx.rate;
    const stateDir = join(ctx.logDir, 'state');
    ctx.log(`starting the demo (MESH_DEMO_NET=${SOAK_NET})...`);
    const runner = meshProcess('demo', ['demo', '--state', stateDir, '--ready-timeout', '90'], ctx.logDir, { MESH_DEMO_NET: SOAK_NET });
    ctx.onCleanup(() => runner.stop(15_000));
    const deadline = Date.now() + 120_000;
    while (!existsSync(join(stateDir, 'pods.json'))) {
      if (!runner.running || Date.now() > deadline) throw new Error(`the demo did not come up:\n${runner.tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const series = new Map<string, Series>();
    const began = Date.now();
    const sample = () => {
      const run: RunRecord = readRun(stateDir);
      for (const p of run.processes.filter((x) => x.role === 'sidecar' || x.role === 'ingress')) {
        let rss: number;
        try {
          rss = memoryOf(p.pid).rss;
        } catch {
          continue; // restarting
        }
        const s = series.get(p.name) ?? { name: p.name, points: [], pids: new Set<number>() };
        s.points.push([(Date.now() - began) / 1000, rss]);
        s.pids.add(p.pid);
        series.set(p.name, s);
      }
    };
    sample();
    const timer = setInterval(sample, SAMPLE_MS);
    ctx.log(`soak: ${rate} checkouts/s for ${ctx.durationSeconds} s, RSS of every proxy every ${SAMPLE_MS / 1000} s...`);
    const load = await runPaced({ title: `soak, ${rate} req/s`, url: `${readRun(stateDir).ingressUrl}/checkout`, ...CHECKOUT, connections: 20, durationSeconds: ctx.durationSeconds, rate });
    clearInterval(timer);
    sample();

    const warmupS = Math.min(300, ctx.durationSeconds / 6);
    const rows = [...series.values()].map((s) => {
      const after = s.points.filter(([t]) => t >= warmupS);
      const first = after[0]?.[1] ?? NaN;
      const last = after.at(-1)?.[1] ?? NaN;
      return { proxy: s.name, atWarmup: first, atEnd: last, growth: last - first, peak: Math.max(...after.map(([, r]) => r)), mbPerHour: slopeMbPerHour(after), restarts: s.pids.size - 1 };
    });
    ctx.log('');
    ctx.log(`load: ${load.requests} ok of ${Math.round(rate * ctx.durationSeconds)} sent, ${load.non2xx} non-2xx, ${load.errors} errors, p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms`);
    ctx.log(`RSS after the warm-up (${warmupS.toFixed(0)} s) to the end, per proxy (goal: under 5 MB of growth):`);
    ctx.log(table(['proxy', `RSS at ${warmupS.toFixed(0)} s MB`, 'RSS at end MB', 'growth MB', 'peak MB', 'trend MB/h', 'restarts'],
      rows.map((r) => [r.proxy, mb(r.atWarmup), mb(r.atEnd), mb(r.growth), mb(r.peak), r.mbPerHour, r.restarts])));
    const { samples: _samples, ...loadFigures } = load;
    return { rate, warmupSeconds: warmupS, load: loadFigures, proxies: rows, series: Object.fromEntries([...series.values()].map((s) => [s.name, s.points])) };
  },
};

/** Least-squares slope of RSS over time, in MB per hour. */
function slopeMbPerHour(points: Array<[number, number]>): number {
  if (points.length < 2) return NaN;
  const n = points.length;
  const mt = points.reduce((a, [t]) => a + t, 0) / n;
  const mr = points.reduce((a, [, r]) => a + r, 0) / n;
  const num = points.reduce((a, [t, r]) => a + (t - mt) * (r - mr), 0);
  const den = points.reduce((a, [t]) => a + (t - mt) ** 2, 0);
  return den === 0 ? 0 : Math.round(((num / den) * 3600) / 1e6 * 10) / 10;
}
