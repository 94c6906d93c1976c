// Mode h2: HTTP/2 through two proxies, measured as issue 14 states it: h2load (Debian's
// nghttp2-client), 10 connections with 10 streams each, POST; the app directly (h2c) against
// h2load -> outbound proxy -> mTLS -> inbound proxy -> app, in interleaved slices of one run.
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCa } from './identity-figures.ts';
import type { BenchMode } from './mode.ts';
import { cpuSecondsOf } from './processes.ts';
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
    await ca.process.stop();
    const bodyFile = join(ctx.logDir, 'h2-body.json');
    writeFileSync(bodyFile, JSON.stringify({ item: 'book', quantity: 1 }));

    const h2load = async (url: string, seconds: number, headers: string[]): Promise<H2Result> => {
      const args = ['-c10', '-m10', `-D${seconds}`, '--warm-up-time=1', '-d', bodyFile, '-H', 'content-type: application/json', ...headers.flatMap((h) => ['-H', h]), url];
      const { stdout } = await run('timeout', [String(seconds + 30), 'h2load', ...args], { maxBuffer: 1 << 20 });
      return parseH2load(stdout, url);
    };
    // The outbound proxy routes HTTP/2 by :authority, as a meshed app's client would name the service.
    const paths = [
      { label: 'direct (h2c to the app)', url: `${t.directUrl}/charge`, headers: [] as string[] },
      { label: 'two proxies, mTLS between', url: `${t.meshUrl}/charge`, headers: [`:authority: ${AUTHORITY}`] },
    ];
    ctx.log('warming up...');
    for (const p of paths) await h2load(p.url, 2, p.headers);
    const slice = Math.max(2, ctx.durationSeconds / ROUNDS);
    ctx.log(`h2load -c10 -m10, POST, ${ROUNDS} interleaved slices of ${slice} s per path...`);
    const parts: H2Result[][] = paths.map(() => []);
    let proxyCpu = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const cpu0 = i === 1 ? cpuSecondsOf(t.outbound.pid) + cpuSecondsOf(t.inbound.pid) : 0;
        parts[i]!.push(await h2load(paths[i]!.url, slice, paths[i]!.headers));
        if (i === 1) proxyCpu += cpuSecondsOf(t.outbound.pid) + cpuSecondsOf(t.inbound.pid) - cpu0;
      }
    }
    const sum = (rs: H2Result[], pick: (r: H2Result) => number) => rs.reduce((n, r) => n + pick(r), 0);
    const ratios = parts[1]!.map((m, i) => m.rps / parts[0]![i]!.rps);
    const ratio = median(ratios);
    const meshRequests = sum(parts[1]!, (r) => r.succeeded + r.failed);
    ctx.log('');
    ctx.log(
      table(
        ['path', 'req/s (median slice)', 'mean ms per request', 'succeeded', 'failed'],
        paths.map((p, i) => [p.label, Math.round(median(parts[i]!.map((r) => r.rps))), median(parts[i]!.map((r) => r.meanMs)).toFixed(2), sum(parts[i]!, (r) => r.succeeded), sum(parts[i]!, (r) => r.failed)]),
      ),
    );
    ctx.log(`slice ratios (mesh / direct): ${ratios.map((r) => r.toFixed(3)).join(', ')}; both proxies' CPU: ${((proxyCpu * 1e6) / meshRequests).toFixed(0)} us per request`);
    ctx.log('');
    ctx.log(barLines([{ what: `HTTP/2 through two proxies / direct, median of ${ROUNDS} paired slices`, value: ratio, unit: '', bar: `>= ${BAR_H2_RATIO}`, met: ratio >= BAR_H2_RATIO }]));
    return { direct: parts[0], mesh: parts[1], ratio, ratios, proxyCpuUsPerRequest: (proxyCpu * 1e6) / meshRequests };
  },
};

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
