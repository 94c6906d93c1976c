// How many event-loop hops a request costs each proxy: the two-proxy topology with
// bench/hops-preload.mjs in both proxies, N requests sent one at a time 1 ms apart (the paced
// run's shape: every request meets idle processes), and per proxy what was scheduled per request.
//   node bin/run.js bench/hops.ts [--requests 1000]   (under the heavy lock: it binds the bench's pods)
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { wholeNumber, wholeNumberRange } from '../api/whole-number.ts';
import type { BenchProcess } from './processes.ts';
import { startTopology } from './two-proxy-topology.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '1000' } } });
const requests = wholeNumber(values.requests, 1, Number.MAX_SAFE_INTEGER);
if (requests === undefined) throw new Error(`--requests must be ${wholeNumberRange(1, Number.MAX_SAFE_INTEGER)}, got "${values.requests}"`);

const logDir = mkdtempSync(join(tmpdir(), 'mesh-bench-hops-'));
const out = join(logDir, 'hops');
const preload = fileURLToPath(new URL('hops-preload.mjs', import.meta.url));
const t = await startTopology({
  logDir,
  proxyCommand: [`--import=${preload}`, 'bin/mesh.js', 'proxy'],
  outbound: { env: { MESH_HOPS_OUT: out } },
  inbound: { env: { MESH_HOPS_OUT: out } },
});
const pool = new Pool(t.meshUrl, { connections: 1 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const one = async () => {
  const res = await pool.request({ path: '/', method: 'GET', headers: t.meshHeaders });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`the mesh answered ${res.statusCode}`);
};
try {
  // Warm-up: connections open, code optimized; then the counts start from zero.
  for (let i = 0; i < 2000; i++) await one();
  const snapshot = async (p: BenchProcess) => {
    process.kill(p.pid!, 'SIGUSR2');
    await sleep(300);
    return JSON.parse(readFileSync(`${out}.${p.pid}.json`, 'utf8')) as Record<string, number>;
  };
  await Promise.all([snapshot(t.outbound), snapshot(t.inbound)]);
  for (let i = 0; i < requests; i++) {
    await one();
    await sleep(1);
  }
  const counts = { outbound: await snapshot(t.outbound), inbound: await snapshot(t.inbound) };
  for (const [side, c] of Object.entries(counts)) {
    console.log(`\n${side} proxy, per request (${requests} requests; rows under 0.05 left out):`);
    for (const [what, n] of Object.entries(c).sort((a, b) => b[1] - a[1])) {
      if (n / requests >= 0.05) console.log(`${(n / requests).toFixed(2).padStart(7)}  ${what}`);
    }
  }
} finally {
  await pool.close();
  await t.stop();
}
