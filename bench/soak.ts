// Mode soak: the demo at a fixed rate through its ingress for a long time (`--duration 30m`),
// every process's RSS and open FDs (and each proxy's active handles) recorded every 10 s; prints
// each one's growth after the warm-up (the first 5 minutes, or the first sixth of a shorter run),
// its RSS trend, and the warnings and errors it logged. Goal: flat, < 5 MB per proxy.
// A busy proxy's RSS swings by tens of MB between garbage collections, so one sample against
// another can land on a low and a high: growth is also given as the highest RSS of the run's last
// window against the highest of the first window after the warm-up (peak to peak).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parsePrometheus } from '../api/prom-text.ts';
import { readRun, type RunRecord } from '../examples/orders-checkout/runner/state.ts';
import type { BenchMode } from './mode.ts';
import { runPaced } from './paced-load.ts';
import { memoryOf, meshProcess } from './processes.ts';
import { mb, table } from './report.ts';

/** The soak's own loopback /24, so it runs beside a learner's demo and the other bench modes. */
const SOAK_NET = '127.0.33';
/** 1000 is the saturating modes' default --rate; the demo path holds about 100/s on 2 cores, so the soak runs at 50/s unless told otherwise. */
const DEFAULT_RATE = 50;
const SAMPLE_MS = 10_000;
const CHECKOUT = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'book', quantity: 1 }) };

interface Point {
  /** Seconds since the load started. */
  t: number;
  rss: number;
  fds: number;
  /** Active event-loop resources (sockets, timers): proxies only, from their /metrics. */
  handles: number | null;
}

interface Series {
  name: string;
  role: string;
  points: Point[];
  pids: Set<number>;
  log: string;
}

export const soakMode: BenchMode = {
  name: 'soak',
  summary: 'the demo at a fixed rate for a long time; every process\'s RSS, FDs and handles every 10 s, growth after the warm-up, warnings and errors logged',
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
    const sample = async () => {
      const run: RunRecord = readRun(stateDir);
      const admin = new Map(run.pods.filter((p) => p.adminUrl).map((p) => [p.name, p.adminUrl!]));
      for (const p of run.processes) {
        let rss: number;
        let fds: number;
        try {
          rss = memoryOf(p.pid).rss;
          fds = readdirSync(`/proc/${p.pid}/fd`).length;
        } catch {
          continue; // restarting
        }
        // A sidecar is named after its pod ("orders-stable-0-proxy" or the pod's own name).
        const url = p.role === 'sidecar' || p.role === 'ingress' ? [...admin].find(([pod]) => p.name.startsWith(pod))?.[1] : undefined;
        const handles = url ? await activeResources(url) : null;
        const s = series.get(p.name) ?? { name: p.name, role: p.role ?? '?', points: [], pids: new Set<number>(), log: p.log };
        s.points.push({ t: (Date.now() - began) / 1000, rss, fds, handles });
        s.pids.add(p.pid);
        series.set(p.name, s);
      }
    };
    let sampling = Promise.resolve();
    await sample();
    const timer = setInterval(() => (sampling = sampling.then(sample)), SAMPLE_MS);
    const warmupS = Math.min(300, ctx.durationSeconds / 6);
    // Warnings and errors each process logged by the end of the warm-up, to count only later ones.
    let atWarmup = new Map<string, LogCounts>();
    const warmupTimer = setTimeout(() => (atWarmup = new Map([...series.values()].map((s) => [s.name, logCounts(s.log)]))), warmupS * 1000);
    ctx.log(`soak: ${rate} checkouts/s for ${ctx.durationSeconds} s, every process's RSS, FDs and handles every ${SAMPLE_MS / 1000} s...`);
    const load = await runPaced({ title: `soak, ${rate} req/s`, url: `${readRun(stateDir).ingressUrl}/checkout`, ...CHECKOUT, connections: 20, durationSeconds: ctx.durationSeconds, rate });
    clearInterval(timer);
    clearTimeout(warmupTimer);
    await sampling;
    await sample();

    const rows = [...series.values()].map((s) => {
      const after = s.points.filter((p) => p.t >= warmupS);
      const first = after[0];
      const last = after.at(-1);
      const logs = logCounts(s.log);
      const before = atWarmup.get(s.name) ?? { warn: 0, error: 0 };
      return {
        process: s.name,
        role: s.role,
        rssAtWarmup: first?.rss ?? NaN,
        rssAtEnd: last?.rss ?? NaN,
        rssGrowth: (last?.rss ?? NaN) - (first?.rss ?? NaN),
        rssPeak: Math.max(...after.map((p) => p.rss)),
        rssPeakGrowth: peakToPeakGrowth(after, warmupS, ctx.durationSeconds),
        mbPerHour: slopeMbPerHour(after.map((p) => [p.t, p.rss])),
        fdsAtWarmup: first?.fds ?? NaN,
        fdsAtEnd: last?.fds ?? NaN,
        fdsPeak: Math.max(...after.map((p) => p.fds)),
        handlesAtWarmup: first?.handles ?? null,
        handlesAtEnd: last?.handles ?? null,
        handlesPeak: after.some((p) => p.handles !== null) ? Math.max(...after.map((p) => p.handles ?? 0)) : null,
        warnAfterWarmup: logs.warn - before.warn,
        errorAfterWarmup: logs.error - before.error,
        warnTotal: logs.warn,
        errorTotal: logs.error,
        restarts: s.pids.size - 1,
      };
    });
    ctx.log('');
    ctx.log(`load: ${load.requests} ok of ${Math.round(rate * ctx.durationSeconds)} sent, ${load.non2xx} non-2xx, ${load.errors} errors, p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms`);
    ctx.log(`after the warm-up (${warmupS.toFixed(0)} s) to the end, per process (goal: under 5 MB of RSS growth per proxy, FDs and handles flat):`);
    const dash = (v: number | null) => (v === null ? '-' : v);
    ctx.log(table(['process', 'RSS start MB', 'RSS end MB', 'growth MB', 'growth peak to peak MB', 'peak MB', 'trend MB/h', 'FDs start', 'FDs end', 'FDs peak', 'handles start', 'handles end', 'handles peak', 'warn/error logged (total)', 'restarts'],
      rows.map((r) => [r.process, mb(r.rssAtWarmup), mb(r.rssAtEnd), mb(r.rssGrowth), mb(r.rssPeakGrowth), mb(r.rssPeak), r.mbPerHour, r.fdsAtWarmup, r.fdsAtEnd, r.fdsPeak, dash(r.handlesAtWarmup), dash(r.handlesAtEnd), dash(r.handlesPeak),
        `${r.warnAfterWarmup}/${r.errorAfterWarmup} (${r.warnTotal}/${r.errorTotal})`, r.restarts])));
    const { samples: _samples, ...loadFigures } = load;
    return { rate, warmupSeconds: warmupS, load: loadFigures, processes: rows, series: Object.fromEntries([...series.values()].map((s) => [s.name, s.points])) };
  },
};

/** A proxy's nodejs_active_resources_total, or null when its admin server does not answer. */
async function activeResources(adminUrl: string): Promise<number | null> {
  try {
    const res = await request(`${adminUrl}/metrics`, { headersTimeout: 2000, bodyTimeout: 2000 });
    const samples = parsePrometheus(await res.body.text());
    return samples.find((x) => x.name === 'nodejs_active_resources_total')?.value ?? null;
  } catch {
    return null;
  }
}

interface LogCounts {
  warn: number;
  error: number;
}

/** Lines a process logged at warn and at error or worse: pino's levels as words (the mesh's) or numbers (the apps'). */
function logCounts(file: string): LogCounts {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { warn: 0, error: 0 };
  }
  const warn = text.match(/"level":(?:"warn"|40)[,}]/g)?.length ?? 0;
  const error = text.match(/"level":(?:"error"|"fatal"|50|60)[,}]/g)?.length ?? 0;
  return { warn, error };
}

/**
 * The highest RSS in the run's last window against the highest in the first window after the
 * warm-up; a window is a fifth of the time after the warm-up (5 minutes in a 30-minute run).
 */
function peakToPeakGrowth(after: Array<{ t: number; rss: number }>, warmupS: number, durationS: number): number {
  const windowS = (durationS - warmupS) / 5;
  const highest = (from: number, to: number) => Math.max(...after.filter((p) => p.t >= from && p.t <= to).map((p) => p.rss));
  return highest(durationS - windowS, Infinity) - highest(warmupS, warmupS + windowS);
}

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
