// Runs the same load against several paths to the same kind of app (direct, through proxies...)
// in one sitting, so their figures are comparable: saturating runs, then fixed-rate runs.
import { runLoad, type LoadResult } from './load.ts';
import type { BenchContext } from './mode.ts';
import { RssSampler, type BenchProcess } from './processes.ts';
import { LOAD_HEADERS, loadRow, mb, table } from './report.ts';

export interface PathUnderTest {
  label: string;
  url: string;
  headers?: Record<string, string>;
  /** Proxies on this path, whose memory is sampled while it is saturated. */
  proxies: BenchProcess[];
}

export interface PathFigures {
  label: string;
  saturating: LoadResult;
  fixedRate: LoadResult;
  /** Per proxy on the path: peak RSS polled during the saturating run, and VmHWM after it. */
  memory: Record<string, { peakRssBytes: number; vmHwmBytes: number }>;
}

export async function measurePaths(ctx: BenchContext, paths: PathUnderTest[]): Promise<PathFigures[]> {
  const { connections, durationSeconds: d, rate } = ctx;
  ctx.log('warming up (JIT, connection pools)...');
  for (const p of paths) await runLoad({ title: 'warmup', url: p.url, headers: p.headers, connections, durationSeconds: 2 });

  ctx.log(`saturating runs: ${connections} connections, ${d} s each...`);
  const saturating: LoadResult[] = [];
  const memory: PathFigures['memory'][] = [];
  for (const p of paths) {
    const sampler = new RssSampler(p.proxies);
    saturating.push(await runLoad({ title: `${p.label}, ${connections} conns`, url: p.url, headers: p.headers, connections, durationSeconds: d }));
    memory.push(sampler.stop());
  }

  // Enough connections that each sends at most 100 req/s: the rate holds without queueing in the client.
  const fixedConnections = Math.max(1, Math.min(connections, Math.ceil(rate / 100)));
  ctx.log(`fixed-rate runs: ${rate} req/s over ${fixedConnections} connections, ${d} s each...`);
  const fixed: LoadResult[] = [];
  for (const p of paths) {
    fixed.push(await runLoad({ title: `${p.label}, ${rate} req/s`, url: p.url, headers: p.headers, connections: fixedConnections, durationSeconds: d, overallRate: rate }));
  }

  ctx.log('');
  ctx.log(table(LOAD_HEADERS, [...saturating, ...fixed].map(loadRow)));
  const memoryRows = memory.flatMap((m) => Object.entries(m).map(([name, v]) => [name, mb(v.peakRssBytes), mb(v.vmHwmBytes)]));
  if (memoryRows.length > 0) {
    ctx.log('');
    ctx.log(table(['proxy (during its saturating run)', 'peak RSS polled MB', 'VmHWM MB'], memoryRows));
  }
  return paths.map((p, i) => ({ label: p.label, saturating: saturating[i]!, fixedRate: fixed[i]!, memory: memory[i]! }));
}

/** The larger of the polled peak and the kernel's high-water mark. */
export function peakBytes(m: { peakRssBytes: number; vmHwmBytes: number }): number {
  return Math.max(m.peakRssBytes || 0, m.vmHwmBytes || 0);
}
