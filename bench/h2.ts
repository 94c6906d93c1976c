// Mode h2: HTTP/2 through two proxies, measured as issue 14 states it: h2load (Debian's
// nghttp2-client), 10 connections with 10 streams each, POST; the app directly (h2c) against
// h2load -> outbound proxy -> mTLS -> inbound proxy -> app, in interleaved slices of one run.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCa } from './identity-figures.ts';
import type { BenchContext, BenchMode } from './mode.ts';
import { cpuSecondsOf, memoryOf, tsProcess } from './processes.ts';
import { barLines, table } from './report.ts';
import { mtlsTopology } from './tap.ts';
import { AUTHORITY } from './two-proxy-topology.ts';

const run = promisify(execFile);
const CA_ADDR = '127.0.23.110:8080';
/** The goal: HTTP/2 through two proxies at least this share of direct. */
export const BAR_H2_RATIO = 0.16;
const ROUNDS = 5;

interface H2Result {
  rps: number;
  succeeded: number;
  failed: number;
  meanMs: number;
}

export const h2Mode: BenchMode = {
  name: 'h2',
  summary: 'HTTP/2 with h2load (10 connections x 10 streams, POST): the app directly vs through two mTLS proxies',
  async available() {
    return spawnSync('sh', ['-c', 'command -v h2load']).status === 0 ? true : 'h2load is missing (apt-get install nghttp2-client)';
  },
  async run(ctx) {
    ctx.log(`starting the CA on ${CA_ADDR} and the mTLS two-proxy path (the app speaks h2c)...`);
    const ca = await startCa(ctx.logDir, CA_ADDR);
    ctx.onCleanup(() => ca.process.stop());
    const t = await mtlsTopology(ctx, ca, 'h2', '127.0.23.102', '127.0.23.103', ctx.proxyCommand);
    // `--baseline-proxy`: the other build's two proxies (and app) beside this one, in the same slices.
    const base = ctx.baselineProxyCommand ? await mtlsTopology(ctx, ca, 'h2-baseline', '127.0.23.100', '127.0.23.101', ctx.baselineProxyCommand) : undefined;
    await ca.process.stop();
    const bare = await startBarePair(ctx, t.directUrl.replace('http://', ''), BARE_POD, false);
    // The same pair with the GC settings bin/mesh.js gives a proxy: the floor like for like.
    const bareGc = await startBarePair(ctx, t.directUrl.replace('http://', ''), BARE_GC_POD, true);
    const bodyFile = join(ctx.logDir, 'h2-body.json');
    writeFileSync(bodyFile, JSON.stringify({ item: 'book', quantity: 1 }));

    const h2load = async (url: string, seconds: number, headers: string[]): Promise<H2Result> => {
      const args = ['-c10', '-m10', `-D${seconds}`, '--warm-up-time=1', '-d', bodyFile, '-H', 'content-type: application/json', ...headers.flatMap((h) => ['-H', h]), url];
      const { stdout } = await run('timeout', [String(seconds + 30), 'h2load', ...args], { maxBuffer: 1 << 20 });
      return parseH2load(stdout, url);
    };
    // The outbound proxy routes HTTP/2 by :authority, as a meshed app's client would name the service.
    const meshPath = (label: string, topology: typeof t) => ({ label, url: `${topology.meshUrl}/charge`, headers: [`:authority: ${AUTHORITY}`], pids: [topology.outbound.pid, topology.inbound.pid] });
    const paths = [
      { label: 'direct (h2c to the app)', url: `${t.directUrl}/charge`, headers: [] as string[], pids: [] as number[] },
      meshPath('two proxies, mTLS between', t),
      ...(base ? [meshPath('baseline proxies, mTLS between', base)] : []),
      { label: 'bare Node h2 pair, proxy GC flags', url: `http://${BARE_GC_POD}:4140/charge`, headers: [`:authority: ${AUTHORITY}`], pids: bareGc.pids },
      { label: 'bare Node h2 pair (bare-h2-pair.ts)', url: `http://${BARE_POD}:4140/charge`, headers: [`:authority: ${AUTHORITY}`], pids: bare.pids },
    ];
    ctx.log('warming up...');
    for (const p of paths) await h2load(p.url, 2, p.headers);
    const slice = Math.max(2, ctx.durationSeconds / ROUNDS);
    ctx.log(`h2load -c10 -m10, POST, ${ROUNDS} interleaved slices of ${slice} s per path...`);
    const parts: H2Result[][] = paths.map(() => []);
    const cpu = paths.map(() => 0);
    const cpuOf = (pids: number[]) => pids.reduce((n, pid) => n + cpuSecondsOf(pid), 0);
    for (let round = 0; round < ROUNDS; round++) {
      const order = paths.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const cpu0 = cpuOf(paths[i]!.pids);
        parts[i]!.push(await h2load(paths[i]!.url, slice, paths[i]!.headers));
        cpu[i]! += cpuOf(paths[i]!.pids) - cpu0;
      }
    }
    const sum = (rs: H2Result[], pick: (r: H2Result) => number) => rs.reduce((n, r) => n + pick(r), 0);
    const ratiosOf = (i: number) => parts[i]!.map((m, k) => m.rps / parts[0]![k]!.rps);
    const ratios = ratiosOf(1);
    const ratio = median(ratios);
    const usPerRequest = (i: number) => (cpu[i]! * 1e6) / sum(parts[i]!, (r) => r.succeeded + r.failed);
    const peakMb = (i: number) => paths[i]!.pids.map((pid) => (memoryOf(pid).hwm / 1e6).toFixed(0)).join(' / ');
    ctx.log('');
    ctx.log(
      table(
        ['path', 'req/s (median slice)', 'x direct (median of pairs)', 'mean ms per request', 'succeeded', 'failed', "proxies' CPU us/req", 'peak RSS MB (out / in)'],
        paths.map((p, i) => [
          p.label,
          Math.round(median(parts[i]!.map((r) => r.rps))),
          i === 0 ? '1' : median(ratiosOf(i)).toFixed(3),
          median(parts[i]!.map((r) => r.meanMs)).toFixed(2),
          sum(parts[i]!, (r) => r.succeeded),
          sum(parts[i]!, (r) => r.failed),
          i === 0 ? '-' : usPerRequest(i).toFixed(0),
          i === 0 ? '-' : peakMb(i),
        ]),
      ),
    );
    ctx.log(`slice ratios (mesh / direct): ${ratios.map((r) => r.toFixed(3)).join(', ')}`);
    if (base) ctx.log(`slice ratios (mesh / baseline): ${parts[1]!.map((m, k) => (m.rps / parts[2]![k]!.rps).toFixed(3)).join(', ')}`);
    const bareAt = paths.length - 1;
    ctx.log('');
    ctx.log(barLines([{ what: `HTTP/2 through two proxies / direct, median of ${ROUNDS} paired slices`, value: ratio, unit: '', bar: `>= ${BAR_H2_RATIO}`, met: ratio >= BAR_H2_RATIO }]));
    return {
      direct: parts[0],
      mesh: parts[1],
      ratio,
      ratios,
      proxyCpuUsPerRequest: usPerRequest(1),
      ...(base ? { baseline: parts[2], baselineRatio: median(ratiosOf(2)), baselineProxyCpuUsPerRequest: usPerRequest(2) } : {}),
      barePair: parts[bareAt], barePairRatio: median(ratiosOf(bareAt)), barePairCpuUsPerRequest: usPerRequest(bareAt),
      barePairProxyGc: parts[bareAt - 1], barePairProxyGcRatio: median(ratiosOf(bareAt - 1)), barePairProxyGcCpuUsPerRequest: usPerRequest(bareAt - 1),
    };
  },
};

const BARE_POD = '127.0.23.104';
const BARE_GC_POD = '127.0.23.105';

/** A bare forwarder pair on `pod` (4140 h2c in, 4143 mTLS between), its certificates made by openssl; `proxyGc`: with a proxy's GC flags. */
async function startBarePair(ctx: BenchContext, app: string, pod: string, proxyGc: boolean): Promise<{ pids: number[] }> {
  const dir = join(ctx.logDir, `bare-certs-${pod}`);
  mkdirSync(dir, { recursive: true });
  for (const name of ['a', 'b']) {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=bare-${name}`,
      '-addext', `subjectAltName=DNS:bare-${name}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)]);
  }
  const gc = proxyGc ? ['proxy-gc'] : [];
  const tag = proxyGc ? '-gc' : '';
  const b = tsProcess(`bare-h2-b${tag}`, 'bench/bare-h2-pair.ts', ['b', `${pod}:4143`, app, dir, ...gc], ctx.logDir);
  const a = tsProcess(`bare-h2-a${tag}`, 'bench/bare-h2-pair.ts', ['a', `${pod}:4140`, `${pod}:4143`, dir, ...gc], ctx.logDir);
  ctx.onCleanup(async () => void (await Promise.all([a.stop(), b.stop()])));
  for (const [p, port] of [[b, 4143], [a, 4140]] as const) {
    const deadline = Date.now() + 30_000;
    while (!(await canConnect(pod, port))) {
      if (!p.running || Date.now() > deadline) throw new Error(`${p.name} did not listen on ${pod}:${port}:\n${p.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { pids: [a.pid, b.pid] };
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function parseH2load(out: string, url: string): H2Result {
  const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const reqs = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b/.exec(out);
  if (!rps || !reqs) throw new Error(`h2load against ${url} printed no figures:\n${out.slice(-1500)}`);
  const unit = mean?.[2] === 'us' ? 1e-3 : mean?.[2] === 's' ? 1e3 : 1;
  return { rps: Number(rps[1]), succeeded: Number(reqs[1]), failed: Number(reqs[2]), meanMs: mean ? Number(mean[1]) * unit : NaN };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
