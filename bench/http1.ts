// Mode http1: the app directly against the app through outbound + inbound proxies (cleartext
// HTTP/1.1), in the same run: saturating throughput, fixed-rate latency, and the proxies' memory.
import { request } from 'undici';
import { parsePrometheus } from '../api/prom-text.ts';
import { sumOf } from '../api/prom-samples.ts';
import { measurePaths, peakBytes, type PathFigures, type Slice } from './compare.ts';
import type { BenchMode } from './mode.ts';
import { barLines, mb, type Bar } from './report.ts';
import { checkSamePath, startTopology, type Topology } from './two-proxy-topology.ts';

/** The issue's bars for this stage. */
export const BAR_RATIO = 0.13;
export const BAR_ADDED_P50_MS = 1;
export const BAR_RSS_MB = 130;

export const http1Mode: BenchMode = {
  name: 'http1',
  summary: 'HTTP/1.1 direct vs through outbound + inbound proxies (cleartext)',
  async run(ctx) {
    ctx.log('starting the app and two proxies (each its own process)...');
    const t = await startTopology({ logDir: ctx.logDir, proxyCommand: ctx.proxyCommand, outbound: { env: ctx.proxyEnv }, inbound: { env: ctx.proxyEnv } });
    ctx.onCleanup(() => t.stop());
    await checkSamePath(t);
    // --baseline-proxy: the same path run by another build of the proxy, on its own pods, in the same run.
    const base = ctx.baselineProxyCommand
      ? await startTopology({ logDir: ctx.logDir, proxyCommand: ctx.baselineProxyCommand, name: 'baseline', clientPod: '127.0.23.102', serverPod: '127.0.23.103' })
      : undefined;
    if (base) {
      ctx.onCleanup(() => base.stop());
      await checkSamePath(base);
    }
    // Both proxies' CPU, counted during their own path's slices: per request, it is what a change
    // saves, and it moves far less with the machine's other load than throughput does.
    const cpuOf = (tp: Topology) => [
      { name: 'outbound proxy', pid: tp.outbound.pid },
      { name: 'inbound proxy', pid: tp.inbound.pid },
    ];
    const [direct, mesh, baseline] = await measurePaths(ctx, [
      { label: 'direct', url: t.directUrl, proxies: [] },
      { label: 'mesh', url: t.meshUrl, headers: t.meshHeaders, proxies: [t.outbound, t.inbound], cpu: cpuOf(t) },
      ...(base ? [{ label: 'baseline mesh', url: base.meshUrl, headers: base.meshHeaders, proxies: [base.outbound, base.inbound], cpu: cpuOf(base) }] : []),
    ]);
    const figures = meshAgainstDirect(direct!, mesh!, ctx.rate);
    if (baseline) {
      const ratios = mesh!.saturatingSlices.map((rps, i) => rps / baseline.saturatingSlices[i]!).sort((a, b) => a - b);
      const vsBaseline = ratios[Math.floor(ratios.length / 2)]!;
      figures.bars.push({ what: `throughput mesh/baseline mesh (--baseline-proxy), median of ${ratios.length} paired slices`, value: vsBaseline, unit: '', bar: '(no bar)', met: true });
      figures.bars.push(...cpuAgainstBaseline(mesh!, baseline), ...latencyAgainstBaseline(mesh!.pacedRuns, baseline.pacedRuns));
      Object.assign(figures, { baseline, meshOverBaseline: vsBaseline });
    }
    const proxyCounts = await countsFromProxies(t);
    ctx.log('');
    ctx.log(`golden metrics after the runs: ${Object.entries(proxyCounts).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    // Every request the outbound proxy sent on must have passed the inbound proxy's HTTP stack.
    if (proxyCounts.outbound_requests !== proxyCounts.inbound_requests) {
      ctx.log(`WARNING: the outbound proxy counted ${proxyCounts.outbound_requests} requests and the inbound ${proxyCounts.inbound_requests}: requests reached the app without the inbound's HTTP stack (or were lost between the proxies)`);
    }
    ctx.log('');
    ctx.log(barLines(figures.bars));
    return { direct, mesh, ...figures, proxyCounts };
  },
};

/** Throughput ratio, added latency at the fixed rate, and each proxy's peak memory, against the bars. */
export function meshAgainstDirect(direct: PathFigures, mesh: PathFigures, rate: number) {
  // Slice i of each path ran back to back, so their ratio shares the machine's state of that
  // moment; the median of the paired ratios is the figure (a burst of background load on the
  // shared machine moves one slice, not the median). The pooled ratio is kept beside it.
  const sliceRatios = mesh.saturatingSlices.map((rps, i) => rps / direct.saturatingSlices[i]!);
  const ratio = median(sliceRatios);
  const pooledRatio = mesh.saturating.rps / direct.saturating.rps;
  const addedP50Ms = mesh.fixedRate.p50 - direct.fixedRate.p50;
  const addedP99Ms = mesh.fixedRate.p99 - direct.fixedRate.p99;
  const bars: Bar[] = [
    { what: `throughput ${mesh.label}/${direct.label}, median of ${sliceRatios.length} paired slices`, value: ratio, unit: '', bar: `>= ${BAR_RATIO}`, met: ratio >= BAR_RATIO },
    { what: `  slices: ${sliceRatios.map((r) => r.toFixed(3)).join(' ')}; pooled`, value: pooledRatio, unit: '', bar: '(no bar)', met: true },
    { what: `${mesh.label}: added p50 at ${rate} req/s`, value: addedP50Ms, unit: 'ms', bar: `< ${BAR_ADDED_P50_MS} ms`, met: addedP50Ms < BAR_ADDED_P50_MS },
    { what: `${mesh.label}: added p99 at ${rate} req/s`, value: addedP99Ms, unit: 'ms', bar: '(no bar)', met: true },
    ...Object.entries(mesh.memory).map(([name, m]) => ({
      what: `${name} peak RSS`,
      value: mb(peakBytes(m)),
      unit: 'MB',
      bar: `< ${BAR_RSS_MB} MB`,
      met: peakBytes(m) < BAR_RSS_MB * 1024 * 1024,
    })),
  ];
  return { ratio, sliceRatios, pooledRatio, addedP50Ms, addedP99Ms, bars };
}

/**
 * Both proxies' CPU per request, this build against the baseline's: the median over the paired
 * saturating slices (slice i of each ran back to back), and over the paced ones (same rate).
 */
function cpuAgainstBaseline(mesh: PathFigures, baseline: PathFigures): Bar[] {
  const perRequest = (s: Slice) => (1e6 * Object.values(s.cpuSeconds).reduce((a, b) => a + b, 0)) / Math.max(1, s.requests);
  const paired = (a: Slice[], b: Slice[]) => median(a.flatMap((s, i) => (s.stalled || b[i]?.stalled ? [] : [perRequest(s) / perRequest(b[i]!)])));
  return [
    { what: 'CPU per request mesh/baseline mesh, saturating, median of paired slices', value: paired(mesh.saturatingRuns, baseline.saturatingRuns), unit: '', bar: '(no bar)', met: true },
    { what: 'CPU per request mesh/baseline mesh, paced, median of paired slices', value: paired(mesh.pacedRuns, baseline.pacedRuns), unit: '', bar: '(no bar)', met: true },
  ];
}

/**
 * Latency at the fixed rate, this build against the baseline's, slice by slice: the median of
 * the differences of slice i of each (they ran back to back), each difference printed beside it.
 * The pooled percentiles mix slices taken under different background load.
 */
export function latencyAgainstBaseline(mesh: Pick<Slice, 'p50' | 'p99'>[], baseline: Pick<Slice, 'p50' | 'p99'>[]): Bar[] {
  const n = Math.min(mesh.length, baseline.length);
  const differences = (at: 'p50' | 'p99') => mesh.slice(0, n).map((s, i) => s[at] - baseline[i]![at]);
  return (['p50', 'p99'] as const).map((at) => {
    const d = differences(at);
    return { what: `paced ${at} mesh - baseline mesh, median of paired slices (${d.map((x) => x.toFixed(3)).join(' ')})`, value: median(d), unit: 'ms', bar: '(no bar)', met: true };
  });
}

/** What the proxies' own /metrics counted: a cross-check that the requests passed both. */
export async function countsFromProxies(t: Topology): Promise<Record<string, number>> {
  const scrape = async (url: string) => parsePrometheus(await (await request(`${url}/metrics`)).body.text());
  const [out, inb] = await Promise.all([scrape(t.adminUrl.outbound), scrape(t.adminUrl.inbound)]);
  // Each load run ends by closing its connections with requests in flight: those count as CANCELLED.
  const side = (samples: typeof out, direction: string) => {
    const failures = sumOf(samples, 'response_total', { direction, classification: 'failure' });
    const cancelled = sumOf(samples, 'response_total', { direction, error: 'CANCELLED' });
    return { responses: sumOf(samples, 'response_total', { direction }), cancelled, otherFailures: failures - cancelled };
  };
  const o = side(out, 'outbound');
  const i = side(inb, 'inbound');
  return {
    outbound_requests: sumOf(out, 'request_total', { direction: 'outbound' }),
    inbound_requests: sumOf(inb, 'request_total', { direction: 'inbound' }),
    outbound_responses: o.responses,
    outbound_cancelled_by_client: o.cancelled,
    outbound_other_failures: o.otherFailures,
    inbound_responses: i.responses,
    inbound_cancelled_by_client: i.cancelled,
    inbound_other_failures: i.otherFailures,
    connections_between_proxies: sumOf(out, 'tcp_open_total', { direction: 'outbound', peer: 'dst' }),
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
