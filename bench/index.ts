// `npm run bench [-- --mode http1|mtls|demo] [--duration S] [--connections N] [--rate R]`:
// runs one benchmark mode, prints its tables, and records them in bench/results.json.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { http1Mode } from './http1.ts';
import { parseDuration } from '../api/duration.ts';
import { countFlag, positiveFlag } from '../cli/args.ts';
import type { BenchContext, BenchMode } from './mode.ts';
import { buildProxyBundle } from './proxy-bundle.ts';
import { machineNote, saveResults } from './report.ts';

/** Modes load lazily: a mode whose parts do not exist yet must not break the others. */
const MODES: Record<string, () => Promise<BenchMode>> = {
  http1: async () => http1Mode,
  mtls: async () => (await import('./mtls.ts')).mtlsMode,
  demo: async () => (await import('./demo.ts')).demoMode,
  soak: async () => (await import('./soak.ts')).soakMode,
  tap: async () => (await import('./tap.ts')).tapMode,
  peers: async () => (await import('./peers.ts')).peersMode,
  floor: async () => (await import('./floor.ts')).floorMode,
  h2: async () => (await import('./h2.ts')).h2Mode,
};

/** `--duration 10` (seconds) or a duration such as `30m`, `1h30m`, `90s`. */
function durationSeconds(raw: string): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return positiveFlag(raw, '--duration');
  const ms = parseDuration(raw);
  if (!(ms > 0)) throw new Error(`--duration must be longer than zero, got "${raw}"`);
  return ms / 1000;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'http1' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      rate: { type: 'string', default: '1000' },
      'proxy-build': { type: 'string', default: 'tsx' },
      'proxy-node-flags': { type: 'string', default: '' },
      'proxy-env': { type: 'string', default: '' },
      'baseline-proxy': { type: 'string' },
      'baseline-node-flags': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: npm run bench -- [--mode ${Object.keys(MODES).join('|')}] [--duration 10] [--connections 50] [--rate 1000] [--proxy-build tsx|bundle] [--proxy-node-flags="--max-semi-space-size=4"] [--proxy-env="MALLOC_ARENA_MAX=1"] [--baseline-proxy /other/tree/bin/mesh.js] [--baseline-node-flags="..."]`);
    return 0;
  }
  const loadMode = MODES[values.mode];
  if (!loadMode) throw new Error(`unknown --mode "${values.mode}" (modes: ${Object.keys(MODES).join(', ')})`);
  let mode: BenchMode;
  try {
    mode = await loadMode();
  } catch (err) {
    console.log(`bench mode ${values.mode} is not available yet: ${(err as Error).message}`);
    return 0;
  }
  const available = (await mode.available?.()) ?? true;
  if (available !== true) {
    console.log(`bench mode ${values.mode} is not available yet: ${available}`);
    return 0;
  }

  if (values['proxy-build'] !== 'tsx' && values['proxy-build'] !== 'bundle') {
    throw new Error(`--proxy-build must be tsx (bin/mesh.js, the default) or bundle (esbuild), got "${values['proxy-build']}"`);
  }
  if (values['proxy-build'] === 'bundle' && mode.name !== 'http1') {
    // The bundle lives in a temporary folder, where paths relative to the sources (the .proto files) do not resolve.
    throw new Error('--proxy-build bundle is for --mode http1 only');
  }
  // Read before anything is made: a bad number stops here with nothing to clean up.
  const load = { durationSeconds: durationSeconds(values.duration), connections: countFlag(values.connections, '--connections'), rate: positiveFlag(values.rate, '--rate') };
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));
  const logDir = mkdtempSync(join(tmpdir(), `mesh-bench-${mode.name}-`));
  const ctx: BenchContext = {
    logDir,
    proxyCommand: [
      // Node flags for the proxies only (GC tuning experiments); split on spaces.
      ...values['proxy-node-flags'].split(' ').filter(Boolean),
      ...(values['proxy-build'] === 'bundle' ? buildProxyBundle(logDir) : ['bin/mesh.js', 'proxy']),
    ],
    // Environment variables for this build's proxies (mode http1), `KEY=VALUE` split on spaces.
    proxyEnv: Object.fromEntries(values['proxy-env'].split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    // Another build of the proxy (another tree's bin/mesh.js), for modes that compare against it.
    // Its Node flags (split on spaces) come before it: the same tree with other flags is a baseline too.
    baselineProxyCommand: values['baseline-proxy'] ? [...values['baseline-node-flags'].split(' ').filter(Boolean), values['baseline-proxy'], 'proxy'] : undefined,
    ...load,
    onCleanup: (fn) => cleanups.push(fn),
    log: (line) => console.log(line),
  };
  console.log(`bench ${mode.name}: ${mode.summary}`);
  console.log(`machine: ${machineNote()}`);
  console.log(`process logs: ${ctx.logDir}; proxies run as: node ${ctx.proxyCommand.join(' ')}`);
  const started = Date.now();
  try {
    const results = await mode.run(ctx);
    saveResults(mode.name, { settings: { durationSeconds: ctx.durationSeconds, connections: ctx.connections, rate: ctx.rate, proxyBuild: values['proxy-build'], proxyNodeFlags: values['proxy-node-flags'], proxyEnv: values['proxy-env'] }, ...(results as object) });
    console.log(`\nwrote bench/results.json (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);
