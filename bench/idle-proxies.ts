// Idle proxies as the demo runs them, for memory A/B runs: one CA and one destination (this tree's),
// then rounds of one `mesh proxy` per tree started at the same time (the order alternating by round),
// each with a CA-issued identity, its pod registered, its inbound policy watched and a few
// requests sent through its outbound and inbound (so the HTTP/1 and discovery paths are loaded);
// after `--settle` seconds each proxy's RSS, anonymous and file-backed memory from /proc.
// `node bin/run.js bench/idle-proxies.ts [--tree /other/tree/bin/mesh.js ...] [--rounds 5] [--settle 20]`
// A `--tree` may carry node flags and environment variables after `|`: `bin/mesh.js|--v8-pool-size=1|UV_THREADPOOL_SIZE=2`.
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { BenchProcess, meshProcess } from './processes.ts';
import { table } from './report.ts';

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '5' },
    settle: { type: 'string', default: '20' },
    net: { type: 'string', default: '127.0.77' },
    'node-flags': { type: 'string', multiple: true },
  },
});
const REPO = new URL('..', import.meta.url).pathname;
const trees = values.tree?.length ? values.tree : [join(REPO, 'bin/mesh.js')];
const nodeFlags = values['node-flags'] ?? [];
const rounds = Number(values.rounds);
const settleMs = Number(values.settle) * 1000;
const net = values.net!;
const dir = mkdtempSync(join(tmpdir(), 'idle-proxies-'));
const mesh = (...args: string[]) => execFileSync(process.execPath, ['bin/mesh.js', ...args], { cwd: REPO, encoding: 'utf8' });

mesh('identity', 'init', '--dir', join(dir, 'ca'));
const token = (ns: string, sa: string) => {
  const file = join(dir, `${ns}-${sa}.jwt`);
  writeFileSync(file, mesh('identity', 'token', '--dir', join(dir, 'ca'), '--namespace', ns, '--service-account', sa, '--ttl', '24h').trim());
  return file;
};
const destinationToken = token('mesh-system', 'destination');
const podToken = token('production', 'checkout');
const manifests = join(dir, 'manifests');
mkdirSync(manifests);
for (const f of ['services.yaml', 'lesson.yaml', 'payments-profile.yaml']) {
  writeFileSync(join(manifests, f), readFileSync(join(REPO, 'examples/orders-checkout/manifests', f), 'utf8'));
}
const identityAddr = `${net}.1:18080`;
const destinationAddr = `${net}.1:18086`;
const processes: BenchProcess[] = [];
const stopAll = () => Promise.all(processes.map((p) => p.stop()));
process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

// The app behind every proxy: a tiny HTTP/1 server on each pod address's 8080.
const apps: Array<ReturnType<typeof createServer>> = [];
async function app(host: string): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok\n'));
  });
  apps.push(server);
  await new Promise<void>((resolve) => server.listen(8080, host, resolve));
}

function get(host: string, port: number, authority: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', headers: { host: authority } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function memory(pid: number): { rss: number; anon: number; file: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;
  return { rss: mb('VmRSS'), anon: mb('RssAnon'), file: mb('RssFile'), hwm: mb('VmHWM') };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const ca = meshProcess('identity', ['identity', 'serve', '--dir', join(dir, 'ca'), '--addr', identityAddr], dir);
  processes.push(ca);
  await new Promise((r) => setTimeout(r, 1500));
  const destination = meshProcess('destination', [
    'destination', 'serve', '--resources', manifests, '--listen', destinationAddr,
    '--identity-addr', identityAddr, '--trust-anchors', join(dir, 'ca', 'ca.crt'), '--token-file', destinationToken,
  ], dir);
  processes.push(destination);
  await new Promise((r) => setTimeout(r, 3000));
  const samples = new Map<string, Array<ReturnType<typeof memory>>>(trees.map((t) => [t, []]));
  const loads: number[] = [];
  const statuses = new Map<number, number>();
  let pod = 10;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? trees : [...trees].reverse();
    const started: Array<{ tree: string; proc: BenchProcess; ip: string }> = [];
    for (const tree of order) {
      const ip = `${net}.${pod++}`;
      await app(ip);
      const name = `checkout-${round}-${trees.indexOf(tree)}`;
      const [path, ...extras] = tree.split('|');
      const flags = extras.filter((x) => x.startsWith('--'));
      const env = Object.fromEntries(extras.filter((x) => !x.startsWith('--')).map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]));
      const proc = new BenchProcess(name, [...nodeFlags, ...flags, path!, 'proxy'], join(dir, `${name}.log`), {
        MESH_POD_IP: ip, MESH_POD_NAME: name, MESH_POD_NAMESPACE: 'production', MESH_POD_LABELS: 'app=checkout',
        MESH_POD_PORTS: 'http:8080', MESH_SERVICE_ACCOUNT: 'checkout', MESH_IDENTITY_ADDR: identityAddr,
        MESH_DESTINATION_ADDR: destinationAddr, MESH_TRUST_ANCHORS: join(dir, 'ca', 'ca.crt'), MESH_TOKEN_FILE: podToken,
        MESH_POD_DEPLOYMENT: 'checkout', MALLOC_ARENA_MAX: '2', MESH_LOG_LEVEL: 'warn', ...env,
      });
      processes.push(proc);
      started.push({ tree, proc, ip });
    }
    for (const s of started) await s.proc.waitFor(`http://${s.ip}:4191/ready`, 60_000);
    // A few requests: outbound to checkout's own Service (discovery, balancer, mTLS to a peer's
    // inbound, which is another proxy of this round), so both directions have carried traffic.
    for (let i = 0; i < 20; i++) {
      for (const s of started) {
        const status = await get(s.ip, 4140, 'checkout.production.svc.cluster.local:8080').catch(() => 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }
    await new Promise((r) => setTimeout(r, settleMs));
    loads.push(loadavg()[0]!);
    for (const s of started) samples.get(s.tree)!.push(memory(s.proc.pid));
    await Promise.all(started.map((s) => s.proc.stop()));
  }
  const f = (n: number) => n.toFixed(1);
  console.log(`idle proxies, ${rounds} rounds, RSS ${values.settle} s after 20 requests each (answers by status: ${[...statuses].map(([k, v]) => `${k || 'error'} x${v}`).join(', ')}); load average ${loads.map((l) => l.toFixed(1)).join(', ')} (MB)`);
  console.log(table(['tree', 'RSS median', 'RSS each', 'anon median', 'anon each', 'file', 'VmHWM median'], trees.map((t) => {
    const s = samples.get(t)!;
    return [t, f(median(s.map((x) => x.rss))), s.map((x) => f(x.rss)).join(' '), f(median(s.map((x) => x.anon))), s.map((x) => f(x.anon)).join(' '), f(median(s.map((x) => x.file))), f(median(s.map((x) => x.hwm)))];
  })));
} finally {
  await stopAll();
  for (const a of apps) a.close();
}
