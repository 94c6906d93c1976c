// Mode tap: what tap costs the request path. The mTLS two-proxy path with no tap, the same path
// with one tap open on each proxy at the tap's full rate, and (with --baseline-proxy) the same
// path run by another build of the proxy (say, the tree before tap), interleaved in one run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTap } from '../api/tap-client.ts';
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

    const taps = { opened: 0, events: 0, dropped: 0 };
    const tapOpen: PathUnderTest['around'] = async () => {
      const open = ['127.0.23.102', '127.0.23.103'].map((pod) => holdTap(viz, ca.trustAnchorsPem, `${pod}:${TAP_PORT}`, taps));
      // The tap registers once its call reaches the proxy: give the handshake and the call a moment.
      await new Promise((r) => setTimeout(r, 300));
      return async () => {
        for (const stop of open) await stop();
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

/** Opens one tap (every request, the tap's full rate, journeys on) and reads it until stopped. */
function holdTap(viz: IssuedMaterial, anchorsPem: string, address: string, counts: { opened: number; events: number; dropped: number }): () => Promise<void> {
  const tap = openTap({ address, key: viz.keyPem, cert: viz.certChainPem, trustAnchorsPem: anchorsPem }, { journey: true });
  counts.opened++;
  let lastDropped = 0;
  const reading = (async () => {
    for await (const e of tap.events) {
      counts.events++;
      lastDropped = e.dropped;
    }
  })().catch((err: Error) => {
    throw new Error(`tap at ${address} failed: ${err.message}`);
  });
  return async () => {
    tap.cancel();
    await reading;
    tap.close();
    counts.dropped += lastDropped;
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
