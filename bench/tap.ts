// Mode tap: what tap costs the request path. The mTLS two-proxy path with no tap, the same path
// with one tap open on each proxy at the tap's full rate, and (with --baseline-proxy) the same
// path run by another build of the proxy (say, the tree before tap), interleaved in one run.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spiffeId } from '../api/spiffe.ts';
import { cpus, loadavg } from 'node:os';
import { measurePaths, pairedRatio, type PairedRatio, type PathUnderTest, type Slice } from './compare.ts';
import { issue, startCa, TRUST_DOMAIN, type IssuedMaterial, type RunningCa } from './identity-figures.ts';
import type { BenchContext, BenchMode } from './mode.ts';
import { barLines, table, type Bar } from './report.ts';
import { checkSamePath, startTopology, type Topology } from './two-proxy-topology.ts';

const CA_ADDR = '127.0.23.110:8080';
const TAP_PORT = 4190;
/** The issue's bar: one tap open at full rate costs at most 10% of the throughput. */
export const BAR_TAP_RATIO = 0.9;
/**
 * Many short slices, not a few long ones: on a shared machine a stall spoils one pair of
 * 1.5 s slices instead of a fifth of the run, and is left out of the median (compare.ts). Each
 * slice follows half a second of unmeasured load, in which a tap's first second's burst (a tap
 * starts with a second's worth of its rate) is spent: the slice sees the tap's steady rate.
 */
const SLICE_SECONDS = 1.5;
const SETTLE_SECONDS = 0.5;

export const tapMode: BenchMode = {
  name: 'tap',
  summary: 'mTLS two-proxy path: no tap vs one tap open at full rate (vs --baseline-proxy, another build)',
  async run(ctx) {
    ctx.log(`starting the CA on ${CA_ADDR}, and the viz's certificate (mesh-viz/tap) from it...`);
    const ca = await startCa(ctx.logDir, CA_ADDR);
    ctx.onCleanup(() => ca.process.stop());
    const viz = await issue(ca, 'mesh-viz', 'tap');

    ctx.log('starting the mTLS two-proxy path (each proxy and app its own process)...');
    const mesh = await mtlsTopology(ctx, ca, 'tap', '127.0.23.102', '127.0.23.103', ctx.proxyCommand);
    const baseline = ctx.baselineProxyCommand
      ? await mtlsTopology(ctx, ca, 'baseline', '127.0.23.100', '127.0.23.101', ctx.baselineProxyCommand)
      : undefined;

    const reader = startTapReader(ctx, viz, ca.trustAnchorsPem, ['127.0.23.102', '127.0.23.103'].map((pod) => `${pod}:${TAP_PORT}`));
    // Per kind of tap held open: how many were opened, the events their tapper received, the
    // requests each proxy dropped (per proxy: every request passes both, so a sum counts it twice).
    const taps: Record<string, { opened: number; events: number; dropped: Record<string, number>; seconds: number }> = {};
    const holdTaps = (command: 'open' | 'open-none', pods = ['127.0.23.102', '127.0.23.103']): PathUnderTest['around'] => async () => {
      const kind = `${command === 'open' ? 'every request' : 'a filter matching nothing'}, ${pods.join(' + ')}`;
      const count = (taps[kind] ??= { opened: 0, events: 0, dropped: {}, seconds: 0 });
      // Answered once every proxy has accepted its tap (its response headers came back).
      const answer = await reader.ask(`${command} ${pods.map((pod) => `${pod}:${TAP_PORT}`).join(',')}`);
      if (answer !== 'opened') throw new Error(`the tapper could not open its taps: ${answer}`);
      count.opened += pods.length;
      const from = performance.now();
      return async () => {
        count.seconds += (performance.now() - from) / 1000;
        const counts = JSON.parse(await reader.ask('close')) as { events: number; dropped: Record<string, number> };
        count.events += counts.events;
        for (const [address, n] of Object.entries(counts.dropped)) count.dropped[address] = (count.dropped[address] ?? 0) + n;
      };
    };
    const events = async () => Number(await reader.ask('count'));
    // CPU counted per path: both proxies, the tapper (the viz's stand-in: on a real cluster it
    // runs elsewhere, here it takes the same two cores) and the load generator (this process).
    const cpu = [
      { name: 'outbound proxy', pid: mesh.outbound.pid },
      { name: 'inbound proxy', pid: mesh.inbound.pid },
      { name: 'tapper', pid: reader.pid },
      { name: 'load generator', pid: process.pid },
    ];
    const baseCpu = baseline
      ? [
          { name: 'outbound proxy', pid: baseline.outbound.pid },
          { name: 'inbound proxy', pid: baseline.inbound.pid },
          { name: 'tapper', pid: reader.pid },
          { name: 'load generator', pid: process.pid },
        ]
      : [];
    const basePods = ['127.0.23.100', '127.0.23.101'];
    const paths: PathUnderTest[] = [
      ...(baseline
        ? [
            { label: 'baseline proxy, mTLS', url: baseline.meshUrl, headers: baseline.meshHeaders, proxies: [baseline.outbound, baseline.inbound], cpu: baseCpu },
            { label: 'baseline proxy, tap open', url: baseline.meshUrl, headers: baseline.meshHeaders, proxies: [], around: holdTaps('open', basePods), counter: events, cpu: baseCpu },
          ]
        : []),
      { label: 'mTLS mesh, no tap', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [mesh.outbound, mesh.inbound], cpu },
      { label: 'mTLS mesh, tap matching nothing', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [], around: holdTaps('open-none'), cpu },
      { label: 'mTLS mesh, tap open', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [], around: holdTaps('open'), counter: events, cpu },
    ];
    const loadBefore = loadavg();
    const figures = await measurePaths(ctx, paths, { sliceSeconds: SLICE_SECONDS, settleSeconds: SETTLE_SECONDS });
    const loadAfter = loadavg();
    const byLabel = Object.fromEntries(figures.map((f) => [f.label, f]));
    const noTap = byLabel['mTLS mesh, no tap']!;
    const tapped = byLabel['mTLS mesh, tap open']!;
    const idleTap = byLabel['mTLS mesh, tap matching nothing']!;
    const rps = (s: Slice) => s.rps;
    const proxyUs = (s: Slice) => (((s.cpuSeconds['outbound proxy'] ?? NaN) + (s.cpuSeconds['inbound proxy'] ?? NaN)) * 1e6) / Math.max(1, s.requests);
    // Throughput the proxies' CPU allows: its inverse, so that it reads as the throughput ratio does (under 1: the tap costs).
    const cpuBound = (s: Slice) => 1 / proxyUs(s);
    const tapRatio = pairedRatio(tapped.saturatingRuns, noTap.saturatingRuns, rps);
    const idleTapRatio = pairedRatio(idleTap.saturatingRuns, noTap.saturatingRuns, rps);
    const cpuRatio = pairedRatio(tapped.saturatingRuns, noTap.saturatingRuns, cpuBound);
    const pacedCpuRatio = pairedRatio(tapped.pacedRuns, noTap.pacedRuns, cpuBound);
    // Pooled over the pairs (all CPU over all requests): a slice's CPU is counted in 10 ms
    // ticks, coarse for one 1.5 s slice; the sum over slices is not.
    const proxySeconds = (s: Slice) => (s.cpuSeconds['outbound proxy'] ?? NaN) + (s.cpuSeconds['inbound proxy'] ?? NaN);
    const pooled = (a: Slice[], b: Slice[]) => {
      const kept = a.flatMap((x, i) => (x.stalled || b[i]?.stalled ? [] : [[x, b[i]!] as const]));
      const us = (pick: 0 | 1) => (kept.reduce((n, pair) => n + proxySeconds(pair[pick]), 0) * 1e6) / Math.max(1, kept.reduce((n, pair) => n + pair[pick].requests, 0));
      return { ratio: us(1) / us(0), usWith: us(0), usWithout: us(1) };
    };
    const cpuPooled = pooled(tapped.saturatingRuns, noTap.saturatingRuns);
    const pacedPooled = pooled(tapped.pacedRuns, noTap.pacedRuns);
    // What one event the tapper received cost both proxies, at the paced rate: their CPU over
    // the tapped slices beyond what the same requests cost without a tap, over the events the
    // tapper counted in those slices.
    const tappedEvents = tapped.pacedRuns.reduce((n, s) => n + (s.counted ?? 0), 0);
    const tappedRequests = tapped.pacedRuns.reduce((n, s) => n + s.requests, 0);
    const tappedSeconds = tapped.pacedRuns.reduce((n, s) => n + proxySeconds(s), 0);
    const perEvent = ((tappedSeconds * 1e6 - pacedPooled.usWithout * tappedRequests) / Math.max(1, tappedEvents));
    const eventsPerSecond = tappedEvents / Math.max(1e-9, tapped.pacedRuns.reduce((n, s) => n + s.seconds, 0));
    const pacedAchieved = noTap.fixedRate.rps / ctx.rate;
    const spread = (r: PairedRatio) => `${r.pairs} pairs${r.leftOut ? `, ${r.leftOut} left out (stalled)` : ''}; middle half ${r.q1.toFixed(3)}-${r.q3.toFixed(3)}`;
    const bars: Bar[] = [
      { what: `throughput with a tap open / without, median of paired slices (${spread(tapRatio)})`, value: tapRatio.median, unit: '', bar: `>= ${BAR_TAP_RATIO}`, met: tapRatio.median >= BAR_TAP_RATIO },
      {
        what: `the same from both proxies' CPU per request, saturating: without / with a tap, pooled over the pairs (${cpuPooled.usWithout.toFixed(0)} / ${cpuPooled.usWith.toFixed(0)} us)`,
        value: cpuPooled.ratio,
        unit: '',
        bar: `>= ${BAR_TAP_RATIO}`,
        met: cpuPooled.ratio >= BAR_TAP_RATIO,
      },
      { what: `  the same, median of paired slices (${spread(cpuRatio)})`, value: cpuRatio.median, unit: '', bar: '(no bar)', met: true },
      { what: `the same at ${ctx.rate} req/s paced, pooled (${pacedPooled.usWithout.toFixed(0)} / ${pacedPooled.usWith.toFixed(0)} us)`, value: pacedPooled.ratio, unit: '', bar: '(no bar)', met: true },
      { what: `  the same, median of paired slices (${spread(pacedCpuRatio)})`, value: pacedCpuRatio.median, unit: '', bar: '(no bar)', met: true },
      { what: `both proxies' CPU per event the tapper received, ${ctx.rate} req/s paced (${Math.round(eventsPerSecond)} events/s)`, value: perEvent, unit: 'us', bar: '(no bar)', met: true },
      { what: `paced rate reached without a tap / asked (under 0.95: the machine could not keep up)`, value: pacedAchieved, unit: '', bar: '(no bar)', met: true },
      { what: `throughput with a tap matching nothing / without (what matching costs; ${spread(idleTapRatio)})`, value: idleTapRatio.median, unit: '', bar: '(no bar)', met: true },
      { what: 'the tapper\'s share of one core while its tap is open', value: tapped.cpu['tapper']?.coreShare ?? NaN, unit: '', bar: '(no bar)', met: true },
      { what: 'added p50 at the fixed rate with a tap open', value: tapped.fixedRate.p50 - noTap.fixedRate.p50, unit: 'ms', bar: '(no bar)', met: true },
    ];
    const results: Record<string, unknown> = { noTap, idleTap, tapped, tapRatio, idleTapRatio, cpuRatio, cpuPooled, pacedCpuRatio, pacedPooled, perEventUs: perEvent, eventsPerSecond, loadAverage: { before: loadBefore, after: loadAfter }, taps };
    if (baseline) {
      const base = byLabel['baseline proxy, mTLS']!;
      const baseTapped = byLabel['baseline proxy, tap open']!;
      const noTapOverBaseline = pairedRatio(noTap.saturatingRuns, base.saturatingRuns, rps);
      const baseTapRatio = pairedRatio(baseTapped.saturatingRuns, base.saturatingRuns, rps);
      const basePacedCpuRatio = pooled(baseTapped.pacedRuns, base.pacedRuns);
      const baseCpuRatio = pooled(baseTapped.saturatingRuns, base.saturatingRuns);
      bars.unshift(
        { what: `throughput no tap (this tree) / baseline proxy (${spread(noTapOverBaseline)})`, value: noTapOverBaseline.median, unit: '', bar: '(no bar: same within noise)', met: true },
        { what: `baseline proxy: throughput with a tap open / without (${spread(baseTapRatio)})`, value: baseTapRatio.median, unit: '', bar: '(no bar)', met: true },
        { what: `baseline proxy: the same from CPU per request, saturating, pooled (${baseCpuRatio.usWithout.toFixed(0)} / ${baseCpuRatio.usWith.toFixed(0)} us)`, value: baseCpuRatio.ratio, unit: '', bar: '(no bar)', met: true },
        { what: `baseline proxy: the same at ${ctx.rate} req/s paced, pooled (${basePacedCpuRatio.usWithout.toFixed(0)} / ${basePacedCpuRatio.usWith.toFixed(0)} us)`, value: basePacedCpuRatio.ratio, unit: '', bar: '(no bar)', met: true },
      );
      Object.assign(results, { baseline: base, baselineTapped: baseTapped, noTapOverBaseline, baseTapRatio, baseCpuRatio, basePacedCpuRatio });
    }
    ctx.log('');
    ctx.log(
      table(
        ['taps held during their path\'s slices (journeys on)', 'taps opened', 'events received', 'events/s', 'requests dropped (rate cap), per proxy'],
        Object.entries(taps).map(([kind, t]) => [
          kind,
          t.opened,
          t.events,
          Math.round(t.events / t.seconds),
          Object.entries(t.dropped).map(([address, n]) => `${address} ${n}`).join(', ') || '0',
        ]),
      ),
    );
    ctx.log('');
    ctx.log(barLines(bars));
    ctx.log('');
    ctx.log(`load average (1, 5, 15 min) before the slices ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(1)).join(' ')}`);
    ctx.log(
      'The proxies are CPU-bound at saturation, so their CPU per request sets their throughput: the CPU ratio is the throughput ratio the proxies would reach with the cores to themselves. It holds up under other load far better than the throughput ratio (a stall takes time from a slice, not CPU per request), which moves with whatever else the machine ran during each slice.',
    );
    const cores = cpus().length;
    if (Math.max(loadBefore[0]!, loadAfter[0]!) > 2 * cores) {
      ctx.log(
        `The load average was over twice the ${cores} cores: other processes took the cores in turns with these, and CPU per request rises too when a process keeps losing its core and caches (both ratios moved by 20-40% between such runs). Take these figures as noise; run again on a quieter machine.`,
      );
    }
    return results;
  },
};

export async function mtlsTopology(ctx: BenchContext, ca: RunningCa, name: string, clientPod: string, serverPod: string, proxyCommand: string[]): Promise<Topology> {
  const tokens = join(ctx.logDir, `${name}-tokens`);
  mkdirSync(tokens, { recursive: true });
  const identityEnv = (sa: string) => {
    const tokenFile = join(tokens, `${sa}.jwt`);
    writeFileSync(tokenFile, ca.tokenFor('bench', sa));
    return { MESH_IDENTITY: spiffeId(TRUST_DOMAIN, 'bench', sa), MESH_IDENTITY_ADDR: ca.addr, MESH_TRUST_ANCHORS: join(ca.dir, 'ca.crt'), MESH_TOKEN_FILE: tokenFile };
  };
  const t = await startTopology({
    logDir: ctx.logDir,
    proxyCommand,
    name,
    clientPod,
    serverPod,
    serverIdentity: spiffeId(TRUST_DOMAIN, 'bench', 'server'),
    outbound: { env: identityEnv('client') },
    inbound: { env: identityEnv('server') },
  });
  ctx.onCleanup(() => t.stop());
  await checkSamePath(t);
  return t;
}

/** The tapper (bench/tap-reader.ts) in its own process, as the viz is: asked to open and close its taps. */
function startTapReader(ctx: BenchContext, viz: IssuedMaterial, anchorsPem: string, addresses: string[]): { pid: number; ask(command: string): Promise<string> } {
  const profile = process.env.MESH_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.MESH_BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, 'bin/run.js', 'bench/tap-reader.ts'], {
    env: { ...process.env, TAP_ADDRESSES: addresses.join(','), TAP_KEY: viz.keyPem, TAP_CERT: viz.certChainPem, TAP_ANCHORS: anchorsPem },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  ctx.onCleanup(async () => {
    child.kill();
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    pid: child.pid!,
    async ask(command) {
      child.stdin!.write(`${command}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`the tapper process ended (asked to ${command})`);
      return next.value;
    },
  };
}
