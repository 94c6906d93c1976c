// Runs the same load against several paths to the same kind of app (direct, through proxies...)
// in one sitting, so their figures are comparable: saturating runs, then fixed-rate runs (paced
// evenly, and autocannon's bursty `overallRate` beside them).
import { mergeLoads, runLoad, type LoadResult } from './load.ts';
import { runPaced } from './paced-load.ts';
import type { BenchContext } from './mode.ts';
import { cpuSecondsOf, RssSampler, type BenchProcess, type Watched } from './processes.ts';
import { LOAD_HEADERS, loadRow, mb, table } from './report.ts';

/** Slices per path and run kind (each at least 2 s). */
const ROUNDS = 5;

export interface PathUnderTest {
  label: string;
  url: string;
  headers?: Record<string, string>;
  /** Proxies on this path, whose memory is sampled while it is saturated. */
  proxies: BenchProcess[];
  /** Runs before each of this path's slices; what it returns runs after the slice (a tap held open, say). */
  around?: () => Promise<() => Promise<void>>;
  /** Processes whose CPU (utime+stime) is counted during this path's saturating slices only. */
  cpu?: Watched[];
}

export interface PathFigures {
  label: string;
  saturating: LoadResult;
  /** req/s of each saturating slice, in the order taken: slice i of every path ran back to back. */
  saturatingSlices: number[];
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

export async function measurePaths(ctx: BenchContext, paths: PathUnderTest[]): Promise<PathFigures[]> {
  const { connections, durationSeconds: d, rate } = ctx;
  ctx.log('warming up (JIT, connection pools)...');
  for (const p of paths) await runLoad({ title: 'warmup', url: p.url, headers: p.headers, connections, durationSeconds: 2 });

  // The machine is shared: each path's time is cut into slices taken in turn (a, b, c, a, b, c...),
  // so a change in background load hits every path alike instead of whichever ran last.
  const slices = Math.max(1, Math.min(ROUNDS, Math.floor(d / 2)));
  const slice = d / slices;
  // Odd rounds take the paths in reverse order (a, b, c, c, b, a...): a path that always ran
  // second (after another path's slice ended with cancelled requests, say) would otherwise
  // carry that position's cost in every pair.
  const cpuSeconds = paths.map(() => new Map<string, number>());
  const pacedCpuSeconds = paths.map(() => new Map<string, number>());
  const interleaved = async <R extends LoadResult>(run: (p: PathUnderTest) => Promise<R>, cpuInto?: Array<Map<string, number>>): Promise<R[][]> => {
    const parts: R[][] = paths.map(() => []);
    for (let round = 0; round < slices; round++) {
      const order = [...paths.keys()];
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const p = paths[i]!;
        const after = p.around ? await p.around() : undefined;
        try {
          const before = cpuInto ? (p.cpu ?? []).map((w) => cpuSecondsOf(w.pid)) : [];
          parts[i]!.push(await run(p));
          if (cpuInto) (p.cpu ?? []).forEach((w, j) => cpuInto[i]!.set(w.name, (cpuInto[i]!.get(w.name) ?? 0) + cpuSecondsOf(w.pid) - before[j]!));
        } finally {
          await after?.();
        }
      }
    }
    return parts;
  };

  ctx.log(`saturating runs: ${connections} connections, ${d} s per path in ${slices} interleaved slices...`);
  const samplers = paths.map((p) => new RssSampler(p.proxies));
  const satParts = await interleaved((p) => runLoad({ title: p.label, url: p.url, headers: p.headers, connections, durationSeconds: slice }), cpuSeconds);
  const memory = samplers.map((s) => s.stop());
  const saturating = paths.map((p, i) => mergeLoads(`${p.label}, ${connections} conns`, satParts[i]!));

  // The fixed rate is paced (paced-load.ts): one request about every 1/rate s. autocannon's
  // `overallRate` sends each second's share in a burst at the top of the second; that run is
  // kept beside it, with no bar, so both figures can be seen (bench/README.md says more).
  const fixedConnections = Math.max(1, Math.min(connections, Math.ceil(rate / 100)));
  ctx.log(`fixed-rate runs: ${rate} req/s paced evenly (up to ${fixedConnections} connections), ${d} s per path, interleaved...`);
  const fixedParts = await interleaved((p) => runPaced({ title: p.label, url: p.url, headers: p.headers, connections: fixedConnections, durationSeconds: slice, rate }), pacedCpuSeconds);
  const fixed = paths.map((p, i) => mergeLoads(`${p.label}, ${rate} req/s paced`, fixedParts[i]!));
  const lateP99 = Math.max(...fixedParts.flat().map((r) => r.sendLateP99));
  ctx.log(`(the generator sent each request at most ${lateP99.toFixed(2)} ms after its planned moment, p99 of each slice)`);

  ctx.log(`autocannon overallRate runs (bursts at each second's start; no bar): ${rate} req/s over ${fixedConnections} connections...`);
  const burstParts = await interleaved((p) => runLoad({ title: p.label, url: p.url, headers: p.headers, connections: fixedConnections, durationSeconds: slice, overallRate: rate }));
  const bursts = paths.map((p, i) => mergeLoads(`${p.label}, autocannon -R ${rate}`, burstParts[i]!));

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
  return paths.map((p, i) => ({ label: p.label, saturating: saturating[i]!, saturatingSlices: satParts[i]!.map((r) => r.rps), fixedRate: fixed[i]!, autocannonRate: bursts[i]!, memory: memory[i]!, cpu: cpu[i]!, pacedCpu: pacedCpu[i]! }));
}

/** The larger of the polled peak and the kernel's high-water mark. */
export function peakBytes(m: { peakRssBytes: number; vmHwmBytes: number }): number {
  return Math.max(m.peakRssBytes || 0, m.vmHwmBytes || 0);
}
