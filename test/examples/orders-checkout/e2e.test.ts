// The whole demo, started the way a learner starts it (`npm start`), in its own loopback /24
// (MESH_DEMO_NET, a /24 from addressBlock()) so it never meets a learner's demo. Asserts what issue 6 promises:
// traffic flows, every hop is mTLS, the canary gets ~10%, retries absorb payments' failures,
// a slow payments becomes a timeout, the rogue is refused, gRPC health answers through the
// mesh, and Ctrl-C leaves no process and no bound port behind. It also owns the failures that
// need the demo's addresses (a port in use, a damaged CA state), run before the demo starts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parsePrometheus, type Sample } from '../../../api/prom-text.ts';
import { expectInboundOnlyOverMtls } from '../../helpers/demo-mtls.ts';
import { spawnDemo, type DemoProcess } from '../../helpers/demo-process.ts';
import { expectCanarySplitWithRetries } from '../../helpers/demo-split.ts';
import type { RunRecord } from '../../../examples/orders-checkout/runner/state.ts';
import { burnCpus } from '../../helpers/cpu-burners.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { expectRogueRefused } from '../../helpers/rogue.ts';
import { splitHostPort } from '../../../api/host-port.ts';
import { timedOut, untilNotTimedOut } from '../../helpers/route-timeout.ts';
import { identify } from '../../../examples/orders-checkout/runner/process-identity.ts';
import { eventually } from '../../helpers/control-plane.ts';

const root = join(import.meta.dirname, '../../..');
const netPrefix = await addressBlock();
const ingress = `http://${netPrefix}.1:8000`;
const state = mkdtempSync(join(tmpdir(), 'demo-e2e-'));
const env = { ...process.env, MESH_DEMO_NET: netPrefix, MESH_STATE_DIR: state };
const id = (sa: string) => `spiffe://cluster.local/ns/production/sa/${sa}`;

let demo: DemoProcess;
let run: RunRecord;
/** Every run started (a test kills one runner and starts another), for the clean-up. */
const runs: RunRecord[] = [];
const podIp = (name: string) => run.pods.find((p) => p.name === name)!.ip;

async function checkout(item = 'book') {
  const res = await request(`${ingress}/checkout`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item, quantity: 1 }),
    headersTimeout: 10_000,
  });
  const text = await res.body.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = { notJson: text, proxyError: res.headers['l5d-proxy-error'] }; }
  return { status: res.statusCode, json };
}

async function metrics(pod: string): Promise<Sample[]> {
  const res = await fetch(`http://${podIp(pod)}:4191/metrics`);
  return parsePrometheus(await res.text());
}

function paymentsConfig(settings: { failureRate?: number; latencyMs?: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${podIp('payments-0')}:8080`);
    session.on('error', reject);
    const s = session.request({ ':method': 'POST', ':path': '/config', 'content-type': 'application/json' });
    s.on('response', (h) => { resolve(Number(h[':status'])); session.close(); });
    s.end(JSON.stringify(settings));
  });
}

const temp: string[] = [];
const tempDir = (tag: string) => {
  const d = mkdtempSync(join(tmpdir(), `demo-${tag}-`));
  temp.push(d);
  return d;
};
const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function mesh(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['bin/mesh.js', ...args], { cwd: root, env: { ...env, ...extraEnv } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, out, err })); // after the pipes end, not at 'exit'
  });
}

/** Starts the demo with every core kept busy until it is up: a loaded machine once made the
 * start-up lose a token's bytes and never become ready, and this start must succeed regardless. */
async function startDemo() {
  const burners = burnCpus(150_000);
  try {
    demo = spawnDemo([], { cwd: root, env });
    await demo.up(150_000);
  } finally {
    await burners.stop();
  }
  run = readRun();
  runs.push(run);
}

/** The runner's record of what runs, as it last wrote it. */
const readRun = () => JSON.parse(readFileSync(join(state, 'pods.json'), 'utf8')) as RunRecord;

async function cleanUp() {
  if (demo?.child.exitCode === null) {
    try { process.kill(-demo.child.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
  // The runner's latest record too: a test that replaced pods may have failed before reading it.
  let latest: RunRecord[] = [];
  try { latest = [readRun()]; } catch { /* none */ }
  for (const p of [...runs, ...latest].flatMap((r) => r.processes)) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  rmSync(state, { recursive: true, force: true });
  temp.forEach((d) => rmSync(d, { recursive: true, force: true }));
}

describe('starting fails clearly (before the demo below runs on the same addresses)', () => {
  it('a port already taken is named, with how to find who holds it', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(8000, `${netPrefix}.1`, r));
    try {
      // A lock left by a runner that died is taken over: the start gets as far as the port check.
      const state = tempDir('state');
      writeFileSync(join(state, 'demo.pid'), '999999');
      const r = await mesh(['demo', '--state', state]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`${netPrefix}.1:8000 (for ingress) is already in use`);
      expect(r.err).toContain("ss -ltnp 'sport = :8000'");
      noStackTrace(r.err);
      expect(existsSync(join(state, 'demo.pid'))).toBe(false);
    } finally {
      holder.close();
    }
  });

  it('a damaged state folder stops the CA with a message saying how to start over, and leaves nothing running', async () => {
    const state = tempDir('state');
    execFileSync(process.execPath, ['bin/mesh.js', 'identity', 'init', '--dir', join(state, 'identity')], { cwd: root });
    writeFileSync(join(state, 'identity', 'ca.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    const r = await mesh(['demo', '--state', state, '--ready-timeout', '20']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('identity did not become ready');
    expect(r.err).toContain(`rm -rf ${join(state, 'identity')}`);
    noStackTrace(r.err);
    expect(await portFree(`${netPrefix}.250`, 8080)).toBe(true);
  });

});

describe('the demo, end to end', () => {
  beforeAll(startDemo, 160_000);
  afterAll(cleanUp);

  it('prints what runs where and how to load it', () => {
    expect(demo.output()).toContain(`curl -s -X POST ${ingress}/checkout`);
    expect(demo.output()).toContain('npm run load');
    expect(demo.output()).toContain('autocannon');
  });

  it('serves checkouts through the ingress, and every app sees its caller\'s mesh identity', async () => {
    const r = await untilNotTimedOut(checkout, timedOut);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.hops).toEqual({ checkoutSawCaller: id('ingress'), ordersSawCaller: id('checkout'), paymentsSawCaller: id('orders') });
    const back = await request(`${ingress}/orders/${r.json.order.id}`);
    expect(back.statusCode).toBe(200);
    await back.body.dump();
  });

  it('the front door is the ingress proxy itself: users\' requests (Host is its IP) go to checkout over mTLS', async () => {
    expect(run.processes.find((p) => p.name === 'ingress')).toMatchObject({ role: 'ingress' });
    expect(run.processes.some((p) => p.name === 'ingress-proxy')).toBe(false);
    const front = (await metrics('ingress')).filter((s) => s.name === 'response_total' && s.labels.direction === 'outbound');
    const toCheckout = front.filter((s) => s.labels.authority === 'checkout.production.svc.cluster.local:8080');
    expect(toCheckout.reduce((a, s) => a + s.value, 0)).toBeGreaterThan(0);
    // And checkout's proxy saw them arrive over mTLS from the ingress identity, never in the clear.
    const fromIngress = (await metrics('checkout-0')).filter((s) => s.name === 'response_total' && s.labels.direction === 'inbound' && s.labels.client_id === id('ingress'));
    expect(fromIngress.reduce((a, s) => a + s.value, 0)).toBeGreaterThan(0);
    expect(fromIngress.every((s) => s.labels.tls === 'true')).toBe(true);
    // No request was sent on to the Host it arrived with (the front door's own address).
    expect(front.filter((s) => s.labels.authority === `${netPrefix}.1:8000`)).toEqual([]);
  });

  it('lists its pods with identities, all ready', async () => {
    const r = await mesh(['pods', '-o', 'json']);
    expect(r.code).toBe(0);
    const pods = JSON.parse(r.out).pods as Array<{ name: string; identity: string | null; ready: boolean; address: string }>;
    expect(pods.find((p) => p.name === 'checkout-0')).toMatchObject({ identity: id('checkout'), ready: true, address: `${netPrefix}.${pods.findIndex((p) => p.name === 'checkout-0') + 1}` });
    expect(pods.every((p) => p.ready)).toBe(true);
  });

  it('refuses a second copy while running', async () => {
    const r = await mesh(['demo']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('the demo is already running');
  });

  it('splits orders ~90/10, keeps checkout above 99% with payments failing 20%, and shows retries', async () => {
    // 400 checkouts: of 200, a 10% canary served at most 3% about once in 6,800 runs (binomial);
    // of 400, about once in 10^7, so only a broken split fails the bounds.
    await expectCanarySplitWithRetries({ checkout: () => checkout(), metrics, batches: 50, concurrent: 8, minOk: 0.99, canaryBetween: [0.03, 0.2], minRetries: 10 });
  });

  it('carries every hop between proxies over mTLS (inbound metrics)', () => expectInboundOnlyOverMtls(metrics));

  it('prints a Deployment\'s proxy metrics pod by pod, as the README\'s circuit-breaking step reads them', async () => {
    const r = await mesh(['diagnostics', 'proxy-metrics', 'deploy/orders-stable']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const headers = r.out.split('\n').filter((l) => l.startsWith('# POD '));
    expect(headers).toEqual(['# POD orders-stable-0 (1 of 2)', '# POD orders-stable-1 (2 of 2)']);
    // Both replicas have called payments by now (the split test above): each has its balancer.
    for (const section of r.out.split(/^# POD .*$/m).slice(1)) {
      const balancers = section.split('\n').filter((l) => l.startsWith('outbound_http_balancer_endpoints{'));
      expect(balancers).toContainEqual(expect.stringMatching(/^outbound_http_balancer_endpoints\{.*backend="payments\.production\.svc\.cluster\.local:8080".*endpoint_state="ready".*\} 1$/));
    }
  });

  it('turns a payments slower than the route timeout into a timeout, not a hang', async () => {
    expect(await paymentsConfig({ latencyMs: 2000 })).toBe(200);
    try {
      const started = Date.now();
      const r = await checkout();
      expect(Date.now() - started).toBeLessThan(1800);
      expect(r.status).toBe(504);
    } finally {
      expect(await paymentsConfig({ latencyMs: 5 })).toBe(200);
    }
  });

  it('refuses the rogue workload on every call', async () => {
    await expectRogueRefused(`http://${podIp('rogue-0')}:8080/stats`);
  });

  it('answers grpc.health.v1.Health through the mesh', async () => {
    const res = await request(`${ingress}/orders-health`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ status: 'SERVING' });
  });

  it('restarts every Deployment of the namespace, as the lesson\'s kubectl rollout restart deployment -n production, and checkouts succeed after it', async () => {
    const before = run.pods.filter((p) => p.role === 'workload' && p.namespace === 'production');
    const r = await mesh(['rollout', 'restart', 'deployment', '-n', 'production']);
    expect(r.err).toBe('');
    expect(r.code, r.out).toBe(0);
    const deployments = [...new Set(before.map((p) => p.workload))];
    expect(r.out).toContain(`restarting ${deployments.length} deployments in production, one after another`);
    for (const d of deployments) expect(r.out).toContain(`deployment/${d} restarted`);
    // Every pod is new: the runner's record (rewritten a moment after each change) names each
    // Deployment's replicas anew, all Ready.
    const replaced = (record: RunRecord) => {
      const after = record.pods.filter((p) => p.role === 'workload' && p.namespace === 'production');
      return after.length === before.length && after.every((p) => p.status?.ready && !before.some((b) => b.name === p.name));
    };
    await eventually(() => replaced(run = readRun()), 15_000, 'the runner\'s record of the new pods').catch(() => {});
    runs.push(run);
    const after = run.pods.filter((p) => p.role === 'workload' && p.namespace === 'production');
    expect(after.map((p) => p.workload).sort()).toEqual(before.map((p) => p.workload).sort());
    expect(replaced(run), JSON.stringify(after.map((p) => [p.name, p.status?.ready]))).toBe(true);
    // New pods everywhere: the first checkouts may find a proxy whose pool or discovery is still cold.
    let c: { status: number; json: unknown } = { status: 0, json: 'no checkout answered' };
    await eventually(async () => (c = await checkout()).status === 201, 20_000, 'a checkout through the new pods').catch(() => {});
    expect(c.status, JSON.stringify(c.json)).toBe(201);

    // The runner's control socket takes a malformed path as a bad request, and keeps serving.
    const bad = await new Promise<number | undefined>((resolve, reject) => {
      http.request({ socketPath: run.controlSocket!, method: 'POST', path: '/apis/apps/v1/namespaces/%E0%A4/deployments/restart' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject).end();
    });
    expect(bad).toBe(400);

    const unknown = await mesh(['rollout', 'restart', 'deployment', '-n', 'nowhere']);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain('ERROR NOT_FOUND: no Deployment in namespace nowhere (the demo\'s namespaces: production)');
  }, 240_000);

  it('leaves its pods serving when the runner is killed with SIGKILL; the next npm start stops them first, then comes up', async () => {
    const killed = run;
    // pods.json names the runner by PID and start time, so a dead runner whose PID went to another
    // process reads as stopped (`mesh pods`, the next start): the start time is the running one's.
    expect(killed.runnerStarted).toBeDefined();
    expect(killed.runnerStarted).toBe(identify(killed.runnerPid)?.started);
    const closed = new Promise<void>((resolve) => demo.child.stdout!.on('close', () => resolve()));
    process.kill(killed.runnerPid, 'SIGKILL'); // the runner alone: no chance to stop anything
    await closed;
    // Each process is in a group of its own, so nothing took them down: the mesh still serves.
    for (const p of killed.processes) expect(identify(p.pid), p.name).toBeDefined();
    let r = await untilNotTimedOut(checkout, timedOut);
    expect(r.status, JSON.stringify(r.json)).toBe(201);

    await startDemo();
    expect(demo.output()).toContain(`a previous runner (process ${killed.runnerPid}) ended without stopping its pods`);
    for (const p of killed.processes) {
      expect(demo.output()).toMatch(new RegExp(`stopped ${p.name} of pod \\S+ \\(pid ${p.pid}\\)`));
      expect(identify(p.pid), p.name).toBeUndefined();
    }
    r = await untilNotTimedOut(checkout, timedOut);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
  }, 200_000);

  it('stops every process and frees every port on Ctrl-C', async () => {
    // npm itself may die of the SIGINT at once; the runner (which holds our stdout pipe) stops
    // everything and exits 0, so wait for the pipe to close and for its last line.
    const closed = new Promise<void>((resolve) => demo.child.stdout!.on('close', () => resolve()));
    process.kill(-demo.child.pid!, 'SIGINT'); // what Ctrl-C does: SIGINT to the terminal's foreground group
    await closed;
    expect(demo.output()).toMatch(/SIGINT: stopping every process of the demo/);
    expect(demo.output()).toContain(`demo stopped: all ${run.processes.length} processes exited`);
    expect(() => process.kill(run.runnerPid, 0)).toThrow();
    for (const p of run.processes) {
      expect(() => process.kill(p.pid, 0), p.name).toThrow();
    }
    const addresses = [`${netPrefix}.250:8080`, `${netPrefix}.251:8086`, `${netPrefix}.1:8000`, ...run.pods.flatMap((p) => [
      ...(p.meshed ? [4140, 4143, 4191] : []), ...p.appPorts].map((port) => `${p.ip}:${port}`))];
    for (const a of addresses) {
      const { host, port } = splitHostPort(a, 'a pod address');
      const free = await new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, host, () => s.close(() => resolve(true)));
      });
      expect(free, a).toBe(true);
    }
  }, 30_000);
});
