// `mesh load` (`npm run load`): autocannon against the demo's ingress, then each workload's
// golden metrics over the same window as its proxy's /metrics report them.
import autocannon from 'autocannon';
import { findDemo } from '../find-demo.ts';
import { scrapeAll, workloadStats, type WorkloadStats } from '../../examples/orders-checkout/runner/golden-metrics.ts';
import { countFlag, parseCommandArgs, runCommand, secondsFlag, UsageError, type CommandValues } from '../args.ts';

export const summary = 'load the running demo through its ingress with autocannon and report per-service golden metrics';

const usage = `usage: mesh load [--duration SECONDS] [--connections N] [--path /checkout] [--url URL] [--state DIR]

  --duration     seconds of load (default 10)
  --connections  concurrent connections (default 20)
  --path         POST /checkout (default) places orders; any other path is sent as GET
  --url          the ingress (default: the running demo's, http://127.0.0.1:8000)
  --state DIR    the demo's state folder (default $MESH_STATE_DIR, else the nearest .mesh-state/ above the working directory, else the project's)`;

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
const ms = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(1)} ms`);

const OPTIONS = {
  duration: { type: 'string', default: '10' },
  connections: { type: 'string', default: '20' },
  path: { type: 'string', default: '/checkout' },
  url: { type: 'string' },
  state: { type: 'string' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('load', usage, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    const duration = secondsFlag(values.duration, '--duration', 3600);
    const connections = countFlag(values.connections, '--connections', 10_000);
    if (!values.path.startsWith('/')) throw new UsageError(`--path must start with "/", got ${values.path}`);
    return load(values, duration, connections);
  });
}

async function load(values: CommandValues<typeof OPTIONS>, duration: number, connections: number): Promise<number> {
  let runRecord;
  try {
    runRecord = findDemo({ flag: values.state }).run;
  } catch (err) {
    if (!values.url) return fail((err as Error).message);
  }
  const base = values.url ?? runRecord!.ingressUrl;
  const pods = runRecord?.pods ?? [];
  const post = values.path === '/checkout';

  const before = await scrapeAll(pods);
  const started = Date.now();
  console.log(`autocannon: ${connections} connections for ${duration}s against ${post ? 'POST' : 'GET'} ${base}${values.path}`);
  const result = await autocannon({
    url: `${base}${values.path}`, connections, duration,
    method: post ? 'POST' : 'GET',
    headers: post ? { 'content-type': 'application/json' } : {},
    body: post ? JSON.stringify({ item: 'book', quantity: 1 }) : undefined,
  });
  const seconds = (Date.now() - started) / 1000;
  const after = await scrapeAll(pods);

  console.log('');
  console.log(`requests:   ${result.requests.total} in ${seconds.toFixed(1)}s, ${result.requests.average.toFixed(0)} req/s on average`);
  console.log(`latency:    p50 ${result.latency.p50} ms  p90 ${result.latency.p90} ms  p99 ${result.latency.p99} ms  max ${result.latency.max} ms`);
  console.log(`non-2xx:    ${result.non2xx}   errors: ${result.errors}   timeouts: ${result.timeouts}`);
  if (pods.length === 0) return 0;

  const stats = workloadStats(pods, before, after, seconds);
  console.log('');
  console.log('per workload, from the inbound side of its proxies (retries: sent by its outbound side):');
  printTable(stats);
  return 0;
}

function printTable(stats: WorkloadStats[]): void {
  const rows = [['WORKLOAD', 'REQUESTS', 'SUCCESS', 'RPS', 'P50', 'P99', 'RETRIES SENT']];
  for (const s of stats) {
    rows.push([s.workload, String(s.requests), pct(s.successRate), s.requestsPerSecond.toFixed(1), ms(s.p50Ms), ms(s.p99Ms), String(s.retriesSent)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]! + 2)).join('').trimEnd());
}

function fail(message: string): number {
  console.error(`mesh load: ${message}`);
  return 1;
}
