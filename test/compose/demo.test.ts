// The project's docker-compose.yml on a real Docker engine (started by test/compose/run.sh, which
// runs this file inside the engine's network namespace): what the embedded demo's end-to-end test
// asserts (mTLS on every hop, the ~10% canary, retries, the 504, the refused rogue, health through
// the mesh), plus what compose adds: apps that know nothing of their proxy are meshed all the same
// (iptables, installed by each pod's proxy-init), no first call fails, `mesh pods` lists the pods.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parsePrometheus, type Sample } from '../../api/prom-text.ts';
import { expectInboundOnlyOverMtls } from '../helpers/demo-mtls.ts';
import { expectCanarySplitWithRetries } from '../helpers/demo-split.ts';
import { runMesh } from '../cli/run-mesh.ts';
import { expectRogueRefused, type RogueStats } from '../helpers/rogue.ts';
import { timedOut, untilNotTimedOut } from '../helpers/route-timeout.ts';

const project = process.env.COMPOSE_PROJECT_NAME ?? 'meshtest';
if (!process.env.DOCKER_HOST) throw new Error('DOCKER_HOST is not set: run this suite with `npm run test:compose` (test/compose/run.sh), which starts the engine');
const ingress = 'http://127.0.0.1:8000';
const id = (sa: string) => `spiffe://cluster.local/ns/production/sa/${sa}`;
const podIp: Record<string, string> = { 'checkout-0': '172.28.10.2', 'orders-stable-0': '172.28.10.3', 'orders-canary-0': '172.28.10.4', 'payments-0': '172.28.10.5', 'rogue-0': '172.28.10.6' };
const meshedApps = ['checkout-0', 'orders-stable-0', 'orders-stable-1', 'orders-canary-0', 'payments-0', 'rogue-0'];

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8', timeout: 60_000 });
const container = (service: string) => `${project}_${service}_1`;
/** Runs a command in a service's container (its pod's network namespace, as the app's user). */
const inPod = (service: string, ...command: string[]) => docker('exec', container(service), ...command);

interface Inspect { Name: string; RestartCount: number; Config: { Env: string[]; User: string }; State: { Status: string; ExitCode: number; Health?: { Status: string } } }
function inspectAll(): Inspect[] {
  const ids = docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`).split('\n').filter(Boolean);
  return JSON.parse(docker('inspect', ...ids)) as Inspect[];
}
const serviceOf = (i: Inspect) => i.Name.replace(new RegExp(`^/${project}_`), '').replace(/_1$/, '');

async function checkout(item = 'book') {
  const res = await request(`${ingress}/checkout`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item, quantity: 1 }), headersTimeout: 15_000,
  });
  const text = await res.body.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = { notJson: text }; }
  return { status: res.statusCode, json };
}

async function metrics(pod: string): Promise<Sample[]> {
  const res = await fetch(`http://${podIp[pod]}:4191/metrics`);
  return parsePrometheus(await res.text());
}

/** payments' own /config, from inside its pod (its proxy would ask for a mesh identity). */
const paymentsConfig = (settings: { latencyMs: number }) =>
  inPod('payments-0', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--http2-prior-knowledge', '-X', 'POST', '-H', 'content-type: application/json',
    '-d', JSON.stringify(settings), `http://${podIp['payments-0']}:8080/config`);

describe('docker-compose.yml on a real engine', () => {
  it('runs every service: proxies and apps healthy, each pod\'s proxy-init done, nothing restarted', () => {
    const all = inspectAll();
    const byName = new Map(all.map((i) => [serviceOf(i), i]));
    for (const app of meshedApps) {
      expect(byName.get(app)?.State.Health?.Status, app).toBe('healthy');
      expect(byName.get(`${app}-proxy`)?.State.Health?.Status, `${app}-proxy`).toBe('healthy');
      // The proxy runs as its own user: that is how the rules tell its dials from the app's.
      expect(byName.get(`${app}-proxy`)?.Config.User, `${app}-proxy`).toBe('2102');
      const init = byName.get(`${app}-proxy-init`);
      expect(init?.State, `${app}-proxy-init`).toMatchObject({ Status: 'exited', ExitCode: 0 });
    }
    for (const cp of ['identity', 'destination', 'viz', 'ingress']) expect(byName.get(cp)?.State.Health?.Status, cp).toBe('healthy');
    expect(byName.get('mesh-init')?.State).toMatchObject({ Status: 'exited', ExitCode: 0 });
    expect(all.filter((i) => i.RestartCount > 0).map(serviceOf)).toEqual([]);
  });

  it('tells no app where its proxy is: no HTTP_PROXY, no grpc_proxy', () => {
    for (const i of inspectAll()) {
      expect(i.Config.Env.filter((e) => /^(https?_proxy|grpc_proxy|no_proxy|no_grpc_proxy)=/i.test(e)), serviceOf(i)).toEqual([]);
    }
  });

  it('has the rules installed in each pod, as proxy-init committed them', () => {
    // A look from a fresh container in checkout's network namespace (the one-shot has exited).
    const list = docker('run', '--rm', '--network', `container:${container('checkout-0-proxy')}`, '--cap-add', 'NET_ADMIN', 'mesh-demo:local', 'mesh', 'proxy-init', '--list');
    expect(list).toMatch(/-A PROXY_INIT_OUTPUT -m owner --uid-owner 2102 .*-j RETURN/);
    expect(list).toMatch(/-A PROXY_INIT_OUTPUT -p tcp .*-j REDIRECT --to-ports 4140/);
    expect(list).toMatch(/-A PROXY_INIT_REDIRECT -p tcp .*-j REDIRECT --to-ports 4143/);
  });

  it('refuses, whole, a proxy-init without NET_ADMIN: it names what is missing and installs nothing', () => {
    const before = docker('run', '--rm', '--network', `container:${container('payments-0-proxy')}`, '--cap-add', 'NET_ADMIN', 'mesh-demo:local', 'mesh', 'proxy-init', '--list');
    let failed: { status: number; stderr: string } | undefined;
    try {
      docker('run', '--rm', '--network', `container:${container('payments-0-proxy')}`, 'mesh-demo:local', 'mesh', 'proxy-init', '--skip-outbound-ports', '25');
    } catch (err) {
      failed = err as { status: number; stderr: string };
    }
    expect(failed?.status).toBe(1);
    expect(failed?.stderr).toMatch(/NET_ADMIN_MISSING/);
    const after = docker('run', '--rm', '--network', `container:${container('payments-0-proxy')}`, '--cap-add', 'NET_ADMIN', 'mesh-demo:local', 'mesh', 'proxy-init', '--list');
    expect(after).toBe(before);
    expect(after).not.toMatch(/--dports 25\b/);
  });

  it('meshes an app that knows nothing of the proxy: a plain curl to a Service name goes out over mTLS as the pod', async () => {
    // curl in checkout's pod, with no proxy setting: iptables hands it to checkout's proxy, which
    // asks the destination about the clusterIP and carries it to orders over mTLS.
    const text = await untilNotTimedOut(async () => inPod('checkout-0', 'curl', '-s', '-m', '20', '-X', 'POST', '-H', 'content-type: application/json',
      '-d', '{"item":"book","quantity":1}', 'http://orders.production.svc.cluster.local:8080/orders'), (t) => t.startsWith('RESPONSE_TIMEOUT'));
    const out = JSON.parse(text);
    expect(out.callerIdentity).toBe(id('checkout'));
    expect(out.paymentsSawCaller).toBe(id('orders'));
    expect(inPod('checkout-0', 'getent', 'hosts', 'orders.production.svc.cluster.local')).toMatch(/^10\.96\.0\.\d+\s/);
  });

  it('forwards a destination the mesh does not know (an IP that is no Service) as it is', () => {
    // The viz API is no mesh Service; checkout's proxy forwards it unchanged (and counts it).
    const health = JSON.parse(inPod('checkout-0', 'curl', '-s', '-m', '20', 'http://172.28.0.12:8085/api/v1/health'));
    expect(health).toBeTypeOf('object');
  });

  it('lost no first call: the rogue was refused from its first attempt, never failed to connect', async () => {
    const stats = (await (await fetch(`http://${podIp['rogue-0']}:8080/stats`)).json()) as RogueStats;
    expect(stats.refused).toBeGreaterThan(0);
    expect(stats).toMatchObject({ allowed: 0, otherErrors: 0 });
    // Every answered call was a refusal; those the rogue has just sent are not answered yet.
    expect(stats.refused + stats.inFlight, JSON.stringify(stats)).toBe(stats.attempts);
  });

  it('lost no first requests of the traffic generator to a front door not yet there', async () => {
    // Its first report, 30 s after it starts: it starts once the front door and the apps are
    // ready, so none of its requests went unanswered (before, its first six always did). Answers
    // that are errors (route timeouts on a machine starved of CPU) are the mesh working: counted apart.
    // Its counts are totals since it started: the latest report is the biggest sample, the first
    // requests included.
    let report: { sent: number; ok: number; failed: number; unreachable: number } | undefined;
    for (const deadline = Date.now() + 60_000; !report && Date.now() < deadline;) {
      const line = docker('logs', container('traffic-0')).split('\n').filter((l) => l.includes('"traffic so far"')).at(-1);
      if (line) report = JSON.parse(line);
      else await new Promise((r) => setTimeout(r, 2000));
    }
    expect(report, 'traffic-0 reported nothing within 60 s').toBeDefined();
    const { sent, ok, failed, unreachable } = report!;
    const counts = `traffic-0 so far: ${ok} ok of ${sent} sent (${failed} failed, ${unreachable} unreachable)`;
    expect(sent, counts).toBeGreaterThan(20);
    expect(unreachable, counts).toBe(0);
    // `sent` counts the requests still in flight too (at most a few at its 2 a second).
    expect(ok / sent, counts).toBeGreaterThan(0.9);
  });

  it('serves checkouts through the ingress, and every app sees its caller\'s mesh identity', async () => {
    const r = await untilNotTimedOut(() => checkout(), timedOut);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.hops).toEqual({ checkoutSawCaller: id('ingress'), ordersSawCaller: id('checkout'), paymentsSawCaller: id('orders') });
  });

  it('splits orders ~90/10, keeps checkout above 99% with payments failing 20%, and shows retries', async () => {
    // Two at a time, not the embedded test's eight: twenty-odd containers on two shared cores, and
    // the lesson's route timeouts (500 ms) are the demo's, not to be stretched for a test.
    // Route timeouts (504, and a 502 "other side closed" when one cut a connection) are what a
    // starved machine costs; the embedded test's 99% counts them too, here 90% (measured 89-100%
    // at load averages of 30-40 on two cores shared with other builds).
    // 400 checkouts: of 200, a 10% canary served at most 3% about once in 6,800 runs (binomial);
    // of 400, about once in 10^7, so only a broken split fails the bounds.
    const results = await expectCanarySplitWithRetries({ checkout: () => checkout(), metrics, batches: 200, concurrent: 2, minOk: 0.9, canaryBetween: [0.03, 0.2], minRetries: 10 });
    // Retries absorb payments' 20% failures: a failed payment that reached checkout is rare.
    const failedPayments = results.filter((r) => r.json?.detail?.error === 'payment failed');
    expect(failedPayments.length / results.length, JSON.stringify(failedPayments.slice(0, 3))).toBeLessThan(0.01);
  });

  it('carries every hop between proxies over mTLS (inbound metrics)', () => expectInboundOnlyOverMtls(metrics));

  it('turns a payments slower than the route timeout into a 504, not a hang', async () => {
    expect(paymentsConfig({ latencyMs: 2000 })).toBe('200');
    try {
      const started = Date.now();
      const r = await checkout();
      expect(r.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(1900);
    } finally {
      expect(paymentsConfig({ latencyMs: 5 })).toBe('200');
    }
  });

  it('refuses the rogue workload on every call', async () => {
    await expectRogueRefused(`http://${podIp['rogue-0']}:8080/stats`);
  });

  it('answers grpc.health.v1.Health through the mesh', async () => {
    const res = await request(`${ingress}/orders-health`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ status: 'SERVING' });
  });

  it('has Prometheus scraping every proxy the viz lists, from the configuration `mesh viz prometheus-config` prints', async () => {
    let up: string[] = [];
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      const targets = (await (await fetch('http://127.0.0.1:9090/api/v1/targets')).json()) as { data: { activeTargets: Array<{ health: string; labels: { pod?: string } }> } };
      up = targets.data.activeTargets.filter((t) => t.health === 'up').map((t) => t.labels.pod ?? '?').sort();
      if (up.length >= meshedApps.length + 1) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(up).toEqual(['ingress', ...meshedApps].sort());
  });

  it('publishes the front door and the viz on 127.0.0.1 only', () => {
    expect(docker('port', container('ingress')).trim()).toBe('8000/tcp -> 127.0.0.1:8000');
    expect(docker('port', container('viz')).trim().split('\n').sort()).toEqual(['8084/tcp -> 127.0.0.1:8084', '8085/tcp -> 127.0.0.1:8085']);
  });

  it('`mesh pods` lists the pods the destination knows, with their identities, all ready', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'compose-pods-')); // no runner's record here
    try {
      const r = await runMesh(['pods', '-o', 'json'], { env: { ...process.env, MESH_STATE_DIR: empty } });
      expect(r.code, r.err).toBe(0);
      const pods = JSON.parse(r.out).pods as Array<{ name: string; identity: string | null; ready: boolean; address: string }>;
      expect(pods.map((p) => p.name).sort()).toEqual(['ingress', ...meshedApps].sort());
      expect(pods.find((p) => p.name === 'checkout-0')).toMatchObject({ identity: id('checkout'), ready: true, address: podIp['checkout-0'] });
      expect(pods.every((p) => p.ready)).toBe(true);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
