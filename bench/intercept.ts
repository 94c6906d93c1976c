// Interception's cost: the same two proxies (mTLS between them) reached through iptables
// redirection (the app dials the server's address; proxy-init sends it to the proxy) and by
// explicit proxying (the app sends absolute-form requests to the proxy, as HTTP_PROXY clients
// do), plus the app directly (a port skipped both ways), interleaved in one run, in network
// namespaces it creates and deletes. Root only. `node bin/run.js bench/intercept.ts [--duration 5] [--rounds 3] [--connections 50]`
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { countFlag, positiveFlag } from '../cli/args.ts';
import { NetnsLab, ready } from '../test/helpers/netns.ts';
import { startTransparentPair } from '../test/helpers/transparent-pair.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '50' } } });
// Checked before any namespace is made: a count of 1.5 is a typo to report, not to round.
let flags: { duration: number; rounds: number; connections: number };
try {
  flags = { duration: positiveFlag(values.duration, '--duration'), rounds: countFlag(values.rounds, '--rounds'), connections: countFlag(values.connections, '--connections') };
} catch (err) {
  console.error(`intercept: ${(err as Error).message}`);
  process.exit(2);
}
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon');
const APP_PORT = 8080;
const SKIP_PORT = 9999;

/** One autocannon run in the client's pod, as an unprivileged app user; its summary as JSON. */
function loadScript(url: string, path: string): string[] {
  const script = `
    const autocannon = require(${JSON.stringify(AUTOCANNON)});
    autocannon({ url: ${JSON.stringify(url)}, connections: ${flags.connections}, duration: ${flags.duration},
                 requests: [{ method: 'GET', path: ${JSON.stringify(path)} }] }, (err, r) => {
      if (err) { console.error(err.message); process.exit(1); }
      console.log(JSON.stringify({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, total: r.requests.total }));
    });`;
  return [process.execPath, '-e', script];
}

const lab = NetnsLab.create(2);
const stop = () => lab.close();
process.on('SIGINT', () => (stop(), process.exit(130)));
let pair: { close(): void } | undefined;
try {
  const [a, b] = lab.pods as [{ ns: string; ip: string }, { ns: string; ip: string }];
  const app = lab.spawn(b.ns, [process.execPath, '-e', `
    const http = require('node:http');
    const handler = (req, res) => res.end('ok');
    let up = 0;
    for (const port of [${APP_PORT}, ${SKIP_PORT}]) http.createServer(handler).listen(port, '${b.ip}', () => ++up === 2 && console.log('ready'));`], { uid: 1000 });
  await ready(app, 'app');
  pair = await startTransparentPair(lab, { client: a, server: b, skipPort: SKIP_PORT, appPort: APP_PORT });
  const modes = {
    direct: loadScript(`http://${b.ip}:${SKIP_PORT}`, '/'),
    'iptables redirect': loadScript(`http://${b.ip}:${APP_PORT}`, '/'),
    'explicit (absolute-form)': loadScript('http://127.0.0.1:4140', `http://${b.ip}:${APP_PORT}/`),
  };
  const results: Record<string, Array<{ rps: number; p50: number; p99: number; errors: number }>> = {};
  // Warm-up: connections, pools and JIT, not counted.
  for (const argv of Object.values(modes)) await lab.run(a.ns, argv, { uid: 65534 });
  for (let round = 0; round < flags.rounds; round++) {
    for (const [mode, argv] of Object.entries(modes)) {
      const r = await lab.run(a.ns, argv, { uid: 65534 });
      if (r.code !== 0) throw new Error(`${mode}: ${r.err}`);
      (results[mode] ??= []).push(JSON.parse(r.out));
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const direct = median(results['direct']!.map((r) => r.rps));
  console.log(`connections ${values.connections}, ${values.rounds} rounds x ${values.duration} s per mode, interleaved; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('mode                       req/s (median)   vs direct   p50 ms   p99 ms   errors');
  for (const [mode, rs] of Object.entries(results)) {
    const rps = median(rs.map((r) => r.rps));
    console.log(`${mode.padEnd(26)} ${rps.toFixed(0).padStart(14)}   ${(rps / direct).toFixed(2).padStart(9)}   ${String(median(rs.map((r) => r.p50))).padStart(6)}   ${String(median(rs.map((r) => r.p99))).padStart(6)}   ${rs.reduce((n, r) => n + r.errors, 0)}`);
  }
} finally {
  pair?.close();
  stop();
}
