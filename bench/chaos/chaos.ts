// The chaos suite: starts the demo, puts steady load through its ingress, SIGKILLs in turn the
// destination, the identity CA, the viz (when the demo runs one), one orders-stable app, one
// orders-stable proxy, the orders-canary app and the payments app, and ends with a rolling
// restart of orders-stable. For each fault: failed requests, when they failed, when the process
// was back and Ready, when the failure rate was back to normal; then the issue's bars.
import { spawn, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStatusRecord, RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { samplesOf } from '../../api/prom-samples.ts';
import { scrapeAll } from '../../examples/orders-checkout/runner/golden-metrics.ts';
import { failed, SteadyLoad, type Outcome } from './steady-load.ts';

export interface ChaosOptions {
  root: string;
  /** The demo's loopback /24 (MESH_DEMO_NET), so the suite never meets a learner's demo. */
  net: string;
  stateDir: string;
  /** The runner's first restart back-off, in seconds (Kubernetes's is 10). */
  backoffSeconds: number;
  /** Checkouts per second through the ingress. */
  rate: number;
  /** How long the load must run clean after a process is back and Ready before the next fault. */
  settleMs: number;
  /** The demo's Services and Linkerd resources (`mesh demo --manifests`); default the lesson's. */
  manifestsDir?: string;
  /** Only the faults named here (e.g. ['destination']), to study one; default every fault and the rollout. */
  only?: string[];
  /** Each fault this many times in a row (default 1). */
  repeat?: number;
  say: (line: string) => void;
}

export type FaultKind = 'control-plane' | 'replica' | 'canary' | 'sole-replica' | 'rollout';

export interface FaultResult {
  fault: string;
  kind: FaultKind;
  requests: number;
  failed: number;
  /** ms after the kill of the first and last failed response (or give-up). */
  firstFailMs?: number;
  lastFailMs?: number;
  /** ms after the kill until the process was running again and its pod Ready. */
  backReadyMs?: number;
  /**
   * The restart back-off this kill meets (ms): the first, doubled for each earlier kill of the
   * same process in this run (`--repeat`), as the kubelet doubles it for a container that keeps
   * exiting within 10 min, up to 5 min.
   */
  backoffMs?: number;
  /** ms after the kill until requests stopped failing (0: none failed). */
  normalMs: number;
  /** Failed requests by status (0: no response at all) and proxy error. */
  failures: Record<string, number>;
  /** One response body per kind of failure. */
  samples: Record<string, string>;
  /** The slowest answered request from the kill to the end (ms): a stall shows here before it fails. */
  slowestMs: number;
  /** The same over the settle period just before the kill, and the failures then: the baseline this fault is judged against. */
  baseline?: { requests: number; failed: number; slowestMs: number };
}

export interface Bar {
  fault: string;
  bar: string;
  ok: boolean;
}

interface Target {
  fault: string;
  kind: FaultKind;
  /** The process to kill, by the runner's name for it. */
  process: (run: RunRecord) => string | undefined;
}

const TARGETS: Target[] = [
  { fault: 'destination', kind: 'control-plane', process: () => 'destination' },
  { fault: 'identity CA', kind: 'control-plane', process: () => 'identity' },
  { fault: 'viz', kind: 'control-plane', process: (run) => run.processes.find((p) => p.name === 'viz')?.name },
  { fault: 'orders-stable app', kind: 'replica', process: (run) => podOf(run, 'orders-stable', 0) },
  { fault: 'orders-stable proxy', kind: 'replica', process: (run) => withProxy(podOf(run, 'orders-stable', 1)) },
  { fault: 'orders-canary app', kind: 'canary', process: (run) => podOf(run, 'orders-canary', 0) },
  { fault: 'payments app', kind: 'sole-replica', process: (run) => podOf(run, 'payments', 0) },
];

const ROLLOUT = 'rolling restart of orders-stable';

const podOf = (run: RunRecord, workload: string, i: number) => run.pods.filter((p) => p.workload === workload)[i]?.name;
const withProxy = (pod: string | undefined) => (pod ? `${pod}-proxy` : undefined);

export async function runChaos(opts: ChaosOptions): Promise<{ results: FaultResult[]; bars: Bar[] }> {
  const demo = await startDemo(opts);
  const results: FaultResult[] = [];
  let load: SteadyLoad | undefined;
  try {
    const run = readRun(opts.stateDir);
    // Payments' simulated failures off: "normal" is then no failed request at all.
    await paymentsConfig(run, { failureRate: 0 });
    load = new SteadyLoad(`${run.ingressUrl}/checkout`, opts.rate);
    load.start();
    await warmUp(run);
    await settle(load, opts.settleMs, 30_000);
    opts.say(`steady load: ${opts.rate} checkouts/s through ${run.ingressUrl}`);
    const chosen = (fault: string) => !opts.only || opts.only.includes(fault);
    for (const target of TARGETS.filter((t) => chosen(t.fault))) {
      for (let i = 0; i < (opts.repeat ?? 1); i++) {
        const name = target.process(readRun(opts.stateDir));
        if (!name) {
          opts.say(`${target.fault}: not running in this demo, skipped`);
          break;
        }
        const result = await killAndWatch(opts, load, target, name);
        result.backoffMs = Math.min(opts.backoffSeconds * 1000 * 2 ** i, 300_000);
        results.push(result);
        opts.say(line(results.at(-1)!));
      }
    }
    if (chosen(ROLLOUT)) {
      results.push(await rollingRestart(opts, load));
      opts.say(line(results.at(-1)!));
    }
  } finally {
    await load?.stop();
    await stopDemo(demo);
  }
  return { results, bars: checkBars(results, opts.backoffSeconds) };
}

async function killAndWatch(opts: ChaosOptions, load: SteadyLoad, target: Target, name: string): Promise<FaultResult> {
  const before = containerOf(readRun(opts.stateDir), name);
  if (!before) throw new Error(`${name}: not in pods.json`);
  const killAt = Date.now();
  process.kill(before.pid, 'SIGKILL');
  // Back: a new process (another pid) running, and its pod Ready.
  const deadline = killAt + opts.backoffSeconds * 1000 + 90_000;
  let backReadyMs: number | undefined;
  while (Date.now() < deadline) {
    const run = readRun(opts.stateDir);
    const now = containerOf(run, name);
    if (now && now.pid !== before.pid && now.state === 'running' && now.ready && podReady(run, name)) {
      backReadyMs = Date.now() - killAt;
      break;
    }
    await sleep(100);
  }
  // A restarted payments starts with its Deployment's failure rate: set it back to 0.
  if (name.startsWith('payments')) await paymentsConfig(readRun(opts.stateDir), { failureRate: 0 }).catch(() => {});
  await settle(load, opts.settleMs, 60_000);
  const result = measure(target.fault, target.kind, load.between(killAt - 1, Date.now()), killAt, backReadyMs);
  const calm = load.between(killAt - opts.settleMs, killAt).filter((o) => o.endMs < killAt);
  result.baseline = { requests: calm.length, failed: calm.filter(failed).length, slowestMs: slowest(calm) };
  return result;
}

async function rollingRestart(opts: ChaosOptions, load: SteadyLoad): Promise<FaultResult> {
  const began = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['bin/mesh.js', 'rollout', 'restart', 'deploy/orders-stable', '--state', opts.stateDir], { cwd: opts.root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach((l) => opts.say(`  rollout: ${l}`)));
    child.stderr.on('data', (d: Buffer) => opts.say(`  rollout: ${d.toString().trim()}`));
    child.on('close', resolve);
  });
  const done = Date.now();
  await settle(load, opts.settleMs, 30_000);
  const result = measure(ROLLOUT, 'rollout', load.between(began, Date.now()), began, code === 0 ? done - began : undefined);
  return result;
}

function measure(fault: string, kind: FaultKind, outcomes: Outcome[], t0: number, backReadyMs: number | undefined): FaultResult {
  const bad = outcomes.filter(failed);
  const failures: Record<string, number> = {};
  const samples: Record<string, string> = {};
  for (const o of bad) {
    const key = `${o.status}${o.error ? ` ${o.error}` : ''}`;
    failures[key] = (failures[key] ?? 0) + 1;
    if (o.body && !samples[key]) samples[key] = o.body;
  }
  const ends = bad.map((o) => o.endMs - t0);
  return {
    fault, kind, requests: outcomes.length, failed: bad.length,
    ...(bad.length ? { firstFailMs: Math.min(...ends), lastFailMs: Math.max(...ends) } : {}),
    ...(backReadyMs !== undefined ? { backReadyMs } : {}),
    normalMs: bad.length ? Math.max(...ends) : 0,
    failures,
    samples,
    slowestMs: slowest(outcomes),
  };
}

function slowest(outcomes: Outcome[]): number {
  return outcomes.reduce((max, o) => Math.max(max, o.endMs - o.startMs), 0);
}

/**
 * The bars are about a mesh in its steady state, where every proxy has already resolved what its
 * app calls and so has a last state to keep while the control plane is away. Right after start,
 * the canary (10% of checkouts) may not have called payments yet: with the destination killed
 * then, its proxy has nothing to route by (a 503 at once). Waits until the proxy of every orders
 * pod has sent requests to payments, the deepest hop.
 */
async function warmUp(run: RunRecord): Promise<void> {
  const orders = run.pods.filter((p) => p.workload.startsWith('orders') && p.adminUrl);
  const deadline = Date.now() + 90_000;
  let cold: string[] = orders.map((p) => p.name);
  while (cold.length > 0) {
    if (Date.now() > deadline) throw new Error(`warm-up: after 90 s of load, ${cold.join(', ')} had still sent nothing to payments`);
    await sleep(500);
    const scrape = await scrapeAll(orders);
    const toPayments = (name: string) => samplesOf(scrape.get(name) ?? [], 'request_total', { direction: 'outbound' }).filter((s) => s.labels.authority?.startsWith('payments.'));
    cold = orders.filter((p) => toPayments(p.name).every((s) => s.value === 0)).map((p) => p.name);
  }
}

/** Waits until the last `ms` of load had no failed request (bounded by `maxMs`). */
async function settle(load: SteadyLoad, ms: number, maxMs: number): Promise<void> {
  const began = Date.now();
  while (Date.now() - began < maxMs) {
    await sleep(Math.min(ms, 500));
    const recent = load.outcomes.filter((o) => o.endMs >= Date.now() - ms);
    const lastFail = [...load.outcomes].reverse().find(failed);
    if (recent.length > 0 && (!lastFail || Date.now() - lastFail.endMs >= ms)) return;
  }
}

export function checkBars(results: FaultResult[], backoffSeconds: number): Bar[] {
  return results.map((r): Bar => {
    // "Back within back-off + start": a restart waits its back-off; starting and passing the
    // readiness probe is given 20 s on a busy machine.
    const backWithin = (r.backoffMs ?? backoffSeconds * 1000) + 20_000;
    switch (r.kind) {
      case 'control-plane':
        return { fault: r.fault, bar: `0 failed; back and Ready within ${backWithin / 1000} s`, ok: r.failed === 0 && r.backReadyMs !== undefined && r.backReadyMs <= backWithin };
      case 'replica':
      case 'canary':
        return { fault: r.fault, bar: 'failures only within 1 s of the kill; back Ready', ok: (r.lastFailMs ?? 0) <= 1000 && r.backReadyMs !== undefined && r.backReadyMs <= backWithin };
      case 'sole-replica':
        return { fault: r.fault, bar: `failures are 5xx answers, not hangs; back within ${backWithin / 1000} s`, ok: !Object.keys(r.failures).some((k) => k.startsWith('0')) && r.backReadyMs !== undefined && r.backReadyMs <= backWithin };
      case 'rollout':
        return { fault: r.fault, bar: '0 failed requests', ok: r.failed === 0 && r.backReadyMs !== undefined };
    }
  });
}

export function line(r: FaultResult): string {
  const window = r.failed ? `${r.firstFailMs}-${r.lastFailMs} ms after` : '-';
  const kinds = Object.entries(r.failures).map(([k, n]) => `${n}x ${k}${r.samples[k] ? ` ${r.samples[k]}` : ''}`).join(', ');
  const base = r.baseline ? `  slowest ${r.slowestMs} ms (before the kill: ${r.baseline.failed}/${r.baseline.requests} failed, slowest ${r.baseline.slowestMs} ms)` : `  slowest ${r.slowestMs} ms`;
  return `${r.fault.padEnd(34)} failed ${String(r.failed).padStart(4)}/${String(r.requests).padEnd(5)} window ${window.padEnd(20)} back+Ready ${r.backReadyMs === undefined ? 'NO' : `${(r.backReadyMs / 1000).toFixed(1)} s`}  normal after ${(r.normalMs / 1000).toFixed(1)} s${base}${kinds ? `  (${kinds})` : ''}`;
}

function containerOf(run: RunRecord, name: string): ContainerStatusRecord | undefined {
  for (const c of run.controlPlanePods ?? []) if (c.name === name) return c.status.containers[0];
  for (const p of run.pods) {
    if (!p.status) continue;
    if (name === p.name) return p.status.containers.find((c) => c.name !== 'linkerd-proxy');
    if (name === `${p.name}-proxy` || (p.role === 'ingress' && name === p.name)) return p.status.containers.find((c) => c.name === 'linkerd-proxy') ?? p.status.containers[0];
  }
  return undefined;
}

function podReady(run: RunRecord, name: string): boolean {
  const cp = (run.controlPlanePods ?? []).find((c) => c.name === name);
  if (cp) return cp.status.ready;
  return run.pods.some((p) => (p.name === name || `${p.name}-proxy` === name) && p.status?.ready === true);
}

function readRun(stateDir: string): RunRecord {
  return JSON.parse(readFileSync(join(stateDir, 'pods.json'), 'utf8')) as RunRecord;
}

function paymentsConfig(run: RunRecord, settings: { failureRate: number }): Promise<void> {
  const ip = run.pods.find((p) => p.workload === 'payments')!.ip;
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${ip}:8080`);
    session.on('error', reject);
    const s = session.request({ ':method': 'POST', ':path': '/config', 'content-type': 'application/json' });
    s.on('response', () => { session.close(); resolve(); });
    s.on('error', reject);
    s.end(JSON.stringify(settings));
  });
}

async function startDemo(opts: ChaosOptions): Promise<ChildProcess> {
  const manifests = opts.manifestsDir ? ['--manifests', opts.manifestsDir] : [];
  const child = spawn(process.execPath, ['bin/mesh.js', 'demo', '--state', opts.stateDir, '--restart-backoff', opts.backoffSeconds.toFixed(3), '--ready-timeout', '120', ...manifests], {
    cwd: opts.root, env: { ...process.env, MESH_DEMO_NET: opts.net }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let closed = false;
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  child.once('close', () => (closed = true));
  const deadline = Date.now() + 180_000;
  while (!output.includes('The mesh is up.')) {
    if (closed || Date.now() > deadline) {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      throw new Error(`the demo did not come up:\n${output}`);
    }
    await sleep(250);
  }
  if (!existsSync(join(opts.stateDir, 'pods.json'))) throw new Error('the demo is up but wrote no pods.json');
  return child;
}

async function stopDemo(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try { process.kill(child.pid!, 'SIGTERM'); } catch { /* gone */ }
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 20_000);
  await closed;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
