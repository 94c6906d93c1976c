// What each package the proxy loads costs at start: for each, a fresh `node` that loads only it
// (and one that loads nothing, and one that loads them all), then its RSS, its anonymous memory
// (RssAnon: this process's own, not the node binary's shared pages) and its live heap after a
// full GC. Several rounds, medians printed. `node bin/run.js bench/import-cost.ts [--rounds 5]`.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { countFlag } from '../cli/args.ts';
import { PROXY_PACKAGES as PACKAGES } from './proxy-packages.ts';
import { table } from './report.ts';

const PROBE = `
const t0 = performance.now();
for (const name of JSON.parse(process.env.LOAD)) require(name);
const loadMs = performance.now() - t0;
globalThis.gc();
const status = require('node:fs').readFileSync('/proc/self/status', 'utf8');
const kb = (f) => Number(new RegExp(f + ':\\\\s+(\\\\d+) kB').exec(status)[1]) / 1024;
console.log(JSON.stringify({ rss: kb('VmRSS'), anon: kb('RssAnon'), heap: process.memoryUsage().heapUsed / 1048576, loadMs }));
`;

interface Probe {
  rss: number;
  anon: number;
  heap: number;
  loadMs: number;
}

function probe(load: string[]): Probe {
  const out = spawnSync(process.execPath, ['--expose-gc', '-e', PROBE], { env: { ...process.env, LOAD: JSON.stringify(load) }, encoding: 'utf8', timeout: 30_000 });
  if (out.status !== 0) throw new Error(`probe of ${load.join(', ') || 'nothing'} failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as Probe;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
let rounds: number;
try {
  rounds = countFlag(values.rounds, '--rounds');
} catch (err) {
  console.error(`import-cost: ${(err as Error).message}`);
  process.exit(2);
}
const cases: Array<[string, string[]]> = [['bare node', []], ...PACKAGES.map((p): [string, string[]] => [p, [p]]), ['all of them', PACKAGES]];
const samples = new Map<string, Probe[]>(cases.map(([name]) => [name, []]));
// Rounds interleave the cases, so a busy moment on the machine hits them alike.
for (let r = 0; r < rounds; r++) for (const [name, load] of cases) samples.get(name)!.push(probe(load));
const bare = samples.get('bare node')!;
const base = { rss: median(bare.map((p) => p.rss)), anon: median(bare.map((p) => p.anon)), heap: median(bare.map((p) => p.heap)) };
const f = (n: number) => n.toFixed(1);
console.log(`medians of ${rounds} fresh processes each (MB; "+" is over bare node), ${process.version}`);
console.log(
  table(
    ['loads', 'RSS', '+RSS', '+anon', '+live heap', 'load ms'],
    cases.map(([name]) => {
      const s = samples.get(name)!;
      const m = { rss: median(s.map((p) => p.rss)), anon: median(s.map((p) => p.anon)), heap: median(s.map((p) => p.heap)), loadMs: median(s.map((p) => p.loadMs)) };
      return [name, f(m.rss), f(m.rss - base.rss), f(m.anon - base.anon), f(m.heap - base.heap), f(m.loadMs)];
    }),
  ),
);
