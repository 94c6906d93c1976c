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
  async available() {
    return true;
  },
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
    const taps = { opened: 0, events: 0, dropped: 0 };
    const tapOpen: PathUnderTest['around'] = async () => {
      await reader.ask('open');
      taps.opened += 2;
      // The tap registers once its call reaches the proxy: give the handshake and the call a moment.
      await new Promise((r) => setTimeout(r, 300));
      return async () => {
        const counts = JSON.parse(await reader.ask('close')) as { events: number; dropped: number };
        taps.events += counts.events;
        taps.dropped += counts.dropped;
      };
    };
    const paths: PathUnderTest[] = [
      ...(baseline ? [{ label: 'baseline proxy, mTLS', url: baseline.meshUrl, headers: baseline.meshHeaders, proxies: [baseline.outbound, baseline.inbound] }] : []),
      { label: 'mTLS mesh, no tap', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [mesh.outbound, mesh.inbound] },
      { label: 'mTLS mesh, tap open', url: mesh.meshUrl, headers: mesh.meshHeaders, proxies: [], around: tapOpen },
    ];
    const figures = await measurePaths(ctx, paths);
    const byLabel = Object.fromEntries(figures.map((f) => [f.label, f]));
    const noTap = byLabel['mTLS mesh, no tap']!;
    const tapped = byLabel['mTLS mesh, tap open']!;
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
    const tapRatio = paired(tapped.saturatingSlices, noTap.saturatingSlices);
    const bars: Bar[] = [
      { what: `throughput with a tap open / without, median of ${noTap.saturatingSlices.length} paired slices`, value: tapRatio, unit: '', bar: `>= ${BAR_TAP_RATIO}`, met: tapRatio >= BAR_TAP_RATIO },
      { what: 'added p50 at the fixed rate with a tap open', value: tapped.fixedRate.p50 - noTap.fixedRate.p50, unit: 'ms', bar: '(no bar)', met: true },
    ];
    const results: Record<string, unknown> = { noTap, tapped, tapRatio, taps };
    if (baseline) {
      const base = byLabel['baseline proxy, mTLS']!;
      const noTapOverBaseline = paired(noTap.saturatingSlices, base.saturatingSlices);
      bars.unshift({ what: `throughput no tap (this tree) / baseline proxy, median of paired slices`, value: noTapOverBaseline, unit: '', bar: '(no bar: same within noise)', met: true });
      Object.assign(results, { baseline: base, noTapOverBaseline });
    }
    ctx.log('');
    ctx.log(table(['tap during its slices', 'taps opened', 'events received', 'requests dropped (rate cap)'], [['both proxies, no filter, journeys on', taps.opened, taps.events, taps.dropped]]));
    ctx.log('');
    ctx.log(barLines(bars));
    return results;
  },
};

async function mtlsTopology(ctx: BenchContext, ca: RunningCa, name: string, clientPod: string, serverPod: string, proxyCommand: string[]): Promise<Topology> {
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
function startTapReader(ctx: BenchContext, viz: IssuedMaterial, anchorsPem: string, addresses: string[]): { ask(command: string): Promise<string> } {
  const child = spawn(process.execPath, ['bin/run.js', 'bench/tap-reader.ts'], {
    env: { ...process.env, TAP_ADDRESSES: addresses.join(','), TAP_KEY: viz.keyPem, TAP_CERT: viz.certChainPem, TAP_ANCHORS: anchorsPem },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  ctx.onCleanup(async () => {
    child.kill();
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
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
