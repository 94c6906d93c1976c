// Runs the same load against several paths to the same kind of app (direct, through proxies...)
// in one sitting, so their figures are comparable: saturating runs, then fixed-rate runs (paced
// evenly, and autocannon's bursty `overallRate` beside them).
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { mergeLoads, runLoad, type LoadResult } from './load.ts';
import { runPaced } from './paced-load.ts';
import type { BenchContext } from './mode.ts';
import { cpuSecondsOf, RssSampler, type BenchProcess, type Watched } from './processes.ts';
import { LOAD_HEADERS, loadRow, mb, table } from './report.ts';

/** Slices per path and run kind (each at least 2 s), unless the mode asks for slices of a given length. */
const ROUNDS = 5;
/** A saturating slice under this share of the median slice (all paths) stalled: the machine, not the path. */
const STALL_SHARE = 0.5;

export interface MeasureOptions {
  /** Cut each path's time into slices of about this many seconds (more, shorter slices: a stall spoils fewer pairs). */
  sliceSeconds?: number;
  /**
   * Unmeasured load before each slice, after `around` (a tap's first second's burst is spent
   * there, so the slice sees the tap's steady rate; connections are warm on the path).
   */
  settleSeconds?: number;
}

/** One slice of one path: what the load generator saw, the CPU of the path's processes, the machine's load. */
export interface Slice {
  rps: number;
  requests: number;
  seconds: number;
  errors: number;
  /** CPU seconds (utime+stime) of each of the path's `cpu` processes during the slice. */
  cpuSeconds: Record<string, number>;
  /** 1-minute load average as the slice began. */
  loadAverage: number;
  /** The slice's own latency percentiles (ms), so paths can be compared slice by slice. */
  p50: number;
  p99: number;
  /** The path's `counter` over the slice, when it has one. */
  counted?: number;
  /** Why this slice says nothing about its path (a stall of the machine), when it does not. */
  stalled?: string;
}

export interface PathUnderTest {
  label: string;
  url: string;
  headers?: Record<string, string>;
  /** Proxies on this path, whose memory is sampled while it is saturated. */
  proxies: BenchProcess[];
  /** Runs before each of this path's slices; what it returns runs after the slice (a tap held open, say). */
  around?: () => Promise<() => Promise<void>>;
  /** Processes whose CPU (utime+stime) is counted during this path's slices only. */
  cpu?: Watched[];
  /** A count read right before and after each measured slice (events a tapper received, say): the slice keeps the difference. */
  counter?: () => Promise<number>;
}

export interface PathFigures {
  label: string;
  saturating: LoadResult;
  /** req/s of each saturating slice, in the order taken: slice i of every path ran back to back. */
  saturatingSlices: number[];
  /** The same slices in full (CPU, load average, whether the machine stalled). */
  saturatingRuns: Slice[];
  /** The paced slices in full. */
  pacedRuns: Slice[];
  /** Evenly paced at the fixed rate (paced-load.ts): the figure the latency bar is checked on. */
  fixedRate: LoadResult;
  /** autocannon `overallRate` at the same rate: bursts at each second's start (no bar). */
  autocannonRate: LoadResult;
  /** Per proxy on the path: peak RSS polled during the saturating runs (all paths' slices), and VmHWM after them. */
  memory: Record<string, { peakRssBytes: number; vmHwmBytes: number }>;
  /** Per process of `cpu`: CPU microseconds per request served during this path's saturating slices, and the share of one core it used. */
  cpu: Record<string, { usPerRequest: number; coreShare: number }>;
  /** The same during the paced runs: at one rate for every path, the figure that compares what each path costs. */
  pacedCpu: Record<string, { usPerRequest: number; coreShare: number }>;
}

/**
 * MESH_BENCH_SLICE_LOG=<file>: each slice's path and its start and end on the monotonic clock in
 * microseconds, the clock of V8's CPU profiles (MESH_BENCH_PROFILE), so a profile's samples can be
 * split by path.
 */
function logSlice(label: string, startedUs: bigint): void {
  const file = process.env.MESH_BENCH_SLICE_LOG;
  if (file) appendFileSync(file, `${JSON.stringify({ label, startUs: Number(startedUs), endUs: Number(process.hrtime.bigint() / 1000n) })}\n`);
}

export async function measurePaths(ctx: BenchContext, paths: PathUnderTest[], opts: MeasureOptions = {}): Promise<PathFigures[]> {
  const { connections, durationSeconds: d, rate } = ctx;
  ctx.log('warming up (JIT, connection pools)...');
  for (const p of paths) await runLoad({ title: 'warmup', url: p.url, headers: p.headers, connections, durationSeconds: 2 });

  // The machine is shared: each path's time is cut into slices taken in turn (a, b, c, a, b, c...),
  // so a change in background load hits every path alike instead of whichever ran last.
  const slices = opts.sliceSeconds ? Math.max(2, Math.round(d / opts.sliceSeconds)) : Math.max(1, Math.min(ROUNDS, Math.floor(d / 2)));
  const slice = d / slices;
  const settle = opts.settleSeconds ?? 0;
  // Odd rounds take the paths in reverse order (a, b, c, c, b, a...): a path that always ran
  // second (after another path's slice ended with cancelled requests, say) would otherwise
  // carry that position's cost in every pair.
  const interleaved = async <R extends LoadResult>(phase: string, run: (p: PathUnderTest, seconds: number) => Promise<R>): Promise<{ results: R[][]; slices: Slice[][] }> => {
    const results: R[][] = paths.map(() => []);
    const sliced: Slice[][] = paths.map(() => []);
    for (let round = 0; round < slices; round++) {
      const order = [...paths.keys()];
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const p = paths[i]!;
        const after = p.around ? await p.around() : undefined;
        try {
          if (settle > 0) await runLoad({ title: 'settle', url: p.url, headers: p.headers, connections, durationSeconds: settle });
          const loadAverage = loadavg()[0]!;
          const countedBefore = await p.counter?.();
          const before = (p.cpu ?? []).map((w) => cpuSecondsOf(w.pid));
          const startedUs = process.hrtime.bigint() / 1000n;
          const r = await run(p, slice);
          logSlice(`${phase}: ${p.label}`, startedUs);
          const cpuSeconds: Record<string, number> = {};
          (p.cpu ?? []).forEach((w, j) => (cpuSeconds[w.name] = cpuSecondsOf(w.pid) - before[j]!));
          const counted = countedBefore === undefined ? undefined : (await p.counter!()) - countedBefore;
          results[i]!.push(r);
          sliced[i]!.push({ rps: r.rps, requests: r.requests, seconds: r.durationSeconds, errors: r.errors + r.timeouts, cpuSeconds, loadAverage, p50: r.p50, p99: r.p99, ...(counted === undefined ? {} : { counted }) });
        } finally {
          await after?.();
        }
      }
    }
    return { results, slices: sliced };
  };

  ctx.log(`saturating runs: ${connections} connections, ${d} s per path in ${slices} interleaved slices of ${slice.toFixed(1)} s${settle > 0 ? ` (each after ${settle} s of unmeasured load)` : ''}...`);
  const samplers = paths.map((p) => new RssSampler(p.proxies));
  const sat = await interleaved('saturating', (p, seconds) => runLoad({ title: p.label, url: p.url, headers: p.headers, connections, durationSeconds: seconds }));
  const memory = samplers.map((s) => s.stop());
  const saturating = paths.map((p, i) => mergeLoads(`${p.label}, ${connections} conns`, sat.results[i]!));
  markStalls(sat.slices);

  // The fixed rate is paced (paced-load.ts): one request about every 1/rate s. autocannon's
  // `overallRate` sends each second's share in a burst at the top of the second; that run is
  // kept beside it, with no bar, so both figures can be seen (bench/README.md says more).
  const fixedConnections = Math.max(1, Math.min(connections, Math.ceil(rate / 100)));
  ctx.log(`fixed-rate runs: ${rate} req/s paced evenly (up to ${fixedConnections} connections), ${d} s per path, interleaved...`);
  const paced = await interleaved('paced', (p, seconds) => runPaced({ title: p.label, url: p.url, headers: p.headers, connections: fixedConnections, durationSeconds: seconds, rate }));
  const fixedParts = paced.results;
  const fixed = paths.map((p, i) => mergeLoads(`${p.label}, ${rate} req/s paced`, fixedParts[i]!));
  const lateP99 = Math.max(...fixedParts.flat().map((r) => r.sendLateP99));
  ctx.log(`(the generator sent each request at most ${lateP99.toFixed(2)} ms after its planned moment, p99 of each slice)`);

  ctx.log(`autocannon overallRate runs (bursts at each second's start; no bar): ${rate} req/s over ${fixedConnections} connections...`);
  const burstParts = (await interleaved('burst', (p, seconds) => runLoad({ title: p.label, url: p.url, headers: p.headers, connections: fixedConnections, durationSeconds: seconds, overallRate: rate }))).results;
  const bursts = paths.map((p, i) => mergeLoads(`${p.label}, autocannon -R ${rate}`, burstParts[i]!));
  const cpuSeconds = sat.slices.map(sumCpu);
  const pacedCpuSeconds = paced.slices.map(sumCpu);

  ctx.log('');
  ctx.log(table(LOAD_HEADERS, [...saturating, ...fixed, ...bursts].map(loadRow)));
  const perRequest = (seconds: Array<Map<string, number>>, runs: LoadResult[]) =>
    paths.map((_p, i) => {
      const out: Record<string, { usPerRequest: number; coreShare: number }> = {};
      for (const [name, s] of seconds[i]!) out[name] = { usPerRequest: (s * 1e6) / Math.max(1, runs[i]!.requests), coreShare: s / runs[i]!.durationSeconds };
      return out;
    });
  const cpu = perRequest(cpuSeconds, saturating);
  const pacedCpu = perRequest(pacedCpuSeconds, fixed);
  const cpuRows = paths.flatMap((p, i) =>
    Object.entries(cpu[i]!).map(([name, c]) => [p.label, name, c.usPerRequest.toFixed(1), `${(c.coreShare * 100).toFixed(0)}%`, pacedCpu[i]![name]!.usPerRequest.toFixed(1), `${(pacedCpu[i]![name]!.coreShare * 100).toFixed(0)}%`]),
  );
  if (cpuRows.length > 0) {
    ctx.log('');
    ctx.log(table(['path', 'process', 'saturating: CPU us/req', 'of one core', `${rate} req/s paced: CPU us/req`, 'of one core'], cpuRows));
  }
  const memoryRows = memory.flatMap((m) => Object.entries(m).map(([name, v]) => [name, mb(v.peakRssBytes), mb(v.vmHwmBytes)]));
  if (memoryRows.length > 0) {
    ctx.log('');
    ctx.log(table(['proxy (during its saturating run)', 'peak RSS polled MB', 'VmHWM MB'], memoryRows));
  }
  const stalled = sat.slices.flatMap((s, i) => s.flatMap((x, j) => (x.stalled ? [`${paths[i]!.label}, slice ${j + 1}: ${x.stalled}`] : [])));
  if (stalled.length > 0) {
    ctx.log('');
    ctx.log(`stalled saturating slices (left out of paired ratios): ${stalled.length}`);
    for (const line of stalled) ctx.log(`  ${line}`);
  }
  return paths.map((p, i) => ({
    label: p.label,
    saturating: saturating[i]!,
    saturatingSlices: sat.results[i]!.map((r) => r.rps),
    saturatingRuns: sat.slices[i]!,
    pacedRuns: paced.slices[i]!,
    fixedRate: fixed[i]!,
    autocannonRate: bursts[i]!,
    memory: memory[i]!,
    cpu: cpu[i]!,
    pacedCpu: pacedCpu[i]!,
  }));
}

/** Each process's CPU seconds over all of one path's slices. */
function sumCpu(slices: Slice[]): Map<string, number> {
  const total = new Map<string, number>();
  for (const s of slices) for (const [name, v] of Object.entries(s.cpuSeconds)) total.set(name, (total.get(name) ?? 0) + v);
  return total;
}

/**
 * Marks saturating slices in which the machine stalled (another process took the cores, the
 * load generator was descheduled): far under the median slice of all paths, or with errors or
 * timeouts. Such a slice measures the machine, not its path.
 */
function markStalls(slices: Slice[][]): void {
  const all = slices.flat();
  const typical = median(all.map((s) => s.rps));
  for (const s of all) {
    if (s.errors > 0) s.stalled = `${s.errors} errors or timeouts`;
    else if (s.rps < STALL_SHARE * typical) s.stalled = `${Math.round(s.rps)} req/s, under ${STALL_SHARE} of the median slice's ${Math.round(typical)}`;
  }
}

/** Paired ratios of two paths' slices (slice i of each ran back to back), pairs with a stalled slice left out. */
export interface PairedRatio {
  median: number;
  /** Pairs the median is over. */
  pairs: number;
  /** Pairs left out because either slice stalled. */
  leftOut: number;
  /** The middle half of the paired ratios: how far the median can be trusted. */
  q1: number;
  q3: number;
}

export function pairedRatio(a: Slice[], b: Slice[], value: (s: Slice) => number): PairedRatio {
  const ratios: number[] = [];
  let leftOut = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]!.stalled || b[i]!.stalled) leftOut++;
    else ratios.push(value(a[i]!) / value(b[i]!));
  }
  const sorted = ratios.sort((x, y) => x - y);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
  return { median: median(sorted), pairs: sorted.length, leftOut, q1: at(0.25), q3: at(0.75) };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The larger of the polled peak and the kernel's high-water mark. */
export function peakBytes(m: { peakRssBytes: number; vmHwmBytes: number }): number {
  return Math.max(m.peakRssBytes || 0, m.vmHwmBytes || 0);
}
