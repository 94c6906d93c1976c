// Mode tap: what tap costs the request path. The mTLS two-proxy path with no tap, the same path
// with one tap open on each proxy at the tap's full rate, and (with --baseline-proxy) the same
// path run by another build of the proxy (say, the tree before tap), interleaved in one run.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spiffeId } from '../api/spiffe.ts';
import { measurePaths, type PathUnderTest } from './compare.ts';
import { issue, startCa, TRUST_DOMAIN, type IssuedMaterial, type RunningCa } from './identity-figures.ts';
import type { BenchContext, BenchMode } from './mode.ts';
import { barLines, table, type Bar } from './report.ts';
import { checkSamePath, startTopology, type Topology } from './two-proxy-topology.ts';

const CA_ADDR = '127.0.23.110:8080';
const TAP_PORT = 4190;
/** The issue's bar: one tap open at full rate costs at most 10% of the throughput. */
export const BAR_TAP_RATIO = 0.9;

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
    // Per kind of tap held open: how many were opened, the events their tapper received, the requests they dropped.
    const taps: Record<string, { opened: number; events: number; dropped: number; seconds: number }> = {};
    const holdTaps = (command: 'open' | 'open-none', pods = ['127.0.23.102', '127.0.23.103']): PathUnderTest['around'] => async () => {
      const kind = `${command === 'open' ? 'every request' : 'a filter matching nothing'}, ${pods.join(' + ')}`;
      const count = (taps[kind] ??= { opened: 0, events: 0, dropped: 0, seconds: 0 });
      await reader.ask(`${command} ${pods.map((pod) => `${pod}:${TAP_PORT}`).join(',')}`);
      count.opened += pods.length;
      // The tap registers once its call reaches the proxy: give the handshake and the call a moment.
      await new Promise((r) => setTimeout(r, 300));
      const from = performance.now();
      return async () => {
        count.seconds += (performance.now() - from) / 1000;
        const counts = JSON.parse(await reader.ask('close')) as { events: number; dropped: number };
        count.events += counts.events;
        count.dropped += counts.dropped;
      };
    };
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
            { label: 'baseline proxy, tap open', url: baseline.meshUrl, headers: baseline.meshHeaders, proxies: [], around: holdTaps('open', basePods), cpu: baseCpu },
          ]
        : []),
      { label: 'mTLS mesh, no tap', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [mesh.outbound, mesh.inbound], cpu },
      { label: 'mTLS mesh, tap matching nothing', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [], around: holdTaps('open-none'), cpu },
      { label: 'mTLS mesh, tap open', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [], around: holdTaps('open'), cpu },
    ];
    const figures = await measurePaths(ctx, paths);
    const byLabel = Object.fromEntries(figures.map((f) => [f.label, f]));
    const noTap = byLabel['mTLS mesh, no tap']!;
    const tapped = byLabel['mTLS mesh, tap open']!;
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
    const tapRatio = paired(tapped.saturatingSlices, noTap.saturatingSlices);
    const idleTap = byLabel['mTLS mesh, tap matching nothing']!;
    const idleTapRatio = paired(idleTap.saturatingSlices, noTap.saturatingSlices);
    const proxyCpu = (c: typeof noTap.cpu) => (c['outbound proxy']?.usPerRequest ?? NaN) + (c['inbound proxy']?.usPerRequest ?? NaN);
    const cpuRatio = proxyCpu(tapped.cpu) / proxyCpu(noTap.cpu);
    const pacedCpuRatio = proxyCpu(tapped.pacedCpu) / proxyCpu(noTap.pacedCpu);
    const bars: Bar[] = [
      { what: `throughput with a tap open / without, median of ${noTap.saturatingSlices.length} paired slices`, value: tapRatio, unit: '', bar: `>= ${BAR_TAP_RATIO}`, met: tapRatio >= BAR_TAP_RATIO },
      { what: 'throughput with a tap matching nothing / without (what matching costs)', value: idleTapRatio, unit: '', bar: '(no bar)', met: true },
      { what: 'both proxies\' CPU per request, tap open / without, saturating', value: cpuRatio, unit: '', bar: '(no bar)', met: true },
      { what: `both proxies' CPU per request, tap open / without, ${ctx.rate} req/s paced`, value: pacedCpuRatio, unit: '', bar: '(no bar)', met: true },
      { what: 'the tapper\'s share of one core while its tap is open', value: tapped.cpu['tapper']?.coreShare ?? NaN, unit: '', bar: '(no bar)', met: true },
      { what: 'added p50 at the fixed rate with a tap open', value: tapped.fixedRate.p50 - noTap.fixedRate.p50, unit: 'ms', bar: '(no bar)', met: true },
    ];
    const results: Record<string, unknown> = { noTap, idleTap, tapped, tapRatio, idleTapRatio, cpuRatio, pacedCpuRatio, taps };
    if (baseline) {
      const base = byLabel['baseline proxy, mTLS']!;
      const baseTapped = byLabel['baseline proxy, tap open']!;
      const noTapOverBaseline = paired(noTap.saturatingSlices, base.saturatingSlices);
      const baseTapRatio = paired(baseTapped.saturatingSlices, base.saturatingSlices);
      const basePacedCpuRatio = proxyCpu(baseTapped.pacedCpu) / proxyCpu(base.pacedCpu);
      bars.unshift(
        { what: `throughput no tap (this tree) / baseline proxy, median of paired slices`, value: noTapOverBaseline, unit: '', bar: '(no bar: same within noise)', met: true },
        { what: 'baseline proxy: throughput with a tap open / without', value: baseTapRatio, unit: '', bar: '(no bar)', met: true },
        { what: `baseline proxy: both proxies' CPU per request, tap open / without, ${ctx.rate} req/s paced`, value: basePacedCpuRatio, unit: '', bar: '(no bar)', met: true },
      );
      Object.assign(results, { baseline: base, baselineTapped: baseTapped, noTapOverBaseline, baseTapRatio, basePacedCpuRatio });
    }
    ctx.log('');
    ctx.log(
      table(
        ['taps held during their path\'s slices (journeys on)', 'taps opened', 'events received', 'events/s', 'requests dropped (rate cap)'],
        Object.entries(taps).map(([kind, t]) => [kind, t.opened, t.events, Math.round(t.events / t.seconds), t.dropped]),
      ),
    );
    ctx.log('');
    ctx.log(barLines(bars));
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

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
