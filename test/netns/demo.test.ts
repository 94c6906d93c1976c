// `mesh demo --netns` started as a learner starts it, as root (CI is root; not root fails here,
// never skips): every pod in a network namespace of its own on a bridge, apps with no proxy
// variable, proxy-init's rules in each pod. Checkouts through the forwarded front door with mTLS on
// every hop, the canary's ~10% and retries, the refused rogue, `mesh pods` and `mesh viz`; and after
// Ctrl-C no namespace, veth, bridge or process left. Its own namespace prefix and loopback /24,
// so it never meets a learner's demo.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parsePrometheus, type Sample } from '../../api/prom-text.ts';
import type { RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { runMesh } from '../cli/run-mesh.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { expectInboundOnlyOverMtls } from '../helpers/demo-mtls.ts';
import { spawnDemo, type DemoProcess } from '../helpers/demo-process.ts';
import { expectCanarySplitWithRetries } from '../helpers/demo-split.ts';
import { productionId as id } from '../helpers/pki.ts';
import { expectRogueRefused, type RogueStats } from '../helpers/rogue.ts';
import { timedOut, untilNotTimedOut } from '../helpers/route-timeout.ts';

const root = join(import.meta.dirname, '../..');
const netPrefix = await addressBlock();
const ingress = `http://${netPrefix}.1:8000`;
const prefix = `mnt${process.pid % 100000}`;
const state = mkdtempSync(join(tmpdir(), 'netns-demo-'));
const env = { ...process.env, MESH_DEMO_NET: netPrefix, MESH_DEMO_NETNS: prefix, MESH_STATE_DIR: state };

let demo: DemoProcess;
let run: RunRecord;
let startMs = 0;

const ns = (pod?: string) => (pod ? `${prefix}-${pod}` : prefix);
/** A command in a namespace of the demo, as the learner would run it (`ip netns exec`). */
const inNetns = (netns: string, argv: string[]) => execFileSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8', timeout: 20_000 });
const ownNamespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n === prefix || n.startsWith(`${prefix}-`));
const podIp = (name: string) => run.pods.find((p) => p.name === name)!.ip;

async function metrics(pod: string): Promise<Sample[]> {
  return parsePrometheus(inNetns(ns(), ['curl', '-sS', '--max-time', '10', `http://${podIp(pod)}:4191/metrics`]));
}

async function checkout() {
  const res = await request(`${ingress}/checkout`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'book', quantity: 1 }), headersTimeout: 10_000,
  });
  const text = await res.body.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = { notJson: text }; }
  return { status: res.statusCode, json };
}

/** `mesh ...` finding the demo by itself (MESH_STATE_DIR), as a learner's shell would. */
const mesh = (args: string[]) => runMesh(args, { env });

describe('mesh demo --netns without root', () => {
  it('stops at once, saying what it needs and what runs without it', () => {
    // The bundle bin/mesh.js runs is built (and cached in node_modules) by root first: another user may not write there.
    execFileSync(process.execPath, ['bin/mesh.js', 'demo', '--help'], { cwd: root, stdio: 'ignore' });
    // UID 2102 with only the capability to read the checkout (it may sit under a folder only root enters).
    const r = spawnSync('setpriv', ['--reuid=2102', '--regid=2102', '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search',
      process.execPath, 'bin/mesh.js', 'demo', '--netns', '--state', join(state, 'not-root')], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('--netns needs root');
    expect(r.stderr).toContain('npm start');
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(ownNamespaces()).toEqual([]);
  });
});

describe('mesh demo --netns', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the --netns demo test needs root (network namespaces, iptables); CI runs as root');
    const t0 = Date.now();
    demo = spawnDemo(['--', '--netns', '--ready-timeout', '180', '--restart-backoff', '1'], { cwd: root, env });
    await demo.up(240_000);
    startMs = Date.now() - t0;
    console.log(`--netns demo up in ${(startMs / 1000).toFixed(1)} s`);
    run = JSON.parse(readFileSync(join(state, 'pods.json'), 'utf8')) as RunRecord;
  }, 260_000);

  afterAll(async () => {
    if (demo?.child.exitCode === null) {
      try { process.kill(-demo.child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
    // A demo killed outright leaves its namespaces: removing them kills whatever runs in them.
    for (const n of ownNamespaces()) {
      for (const pid of execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      }
      execFileSync('ip', ['netns', 'del', n]);
      rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    }
    rmSync(state, { recursive: true, force: true });
  });

  it('puts every pod in a network namespace of its own, on 10.244.0.N, and prints how to reach it', () => {
    expect(demo.output()).toContain(`curl -s -X POST ${ingress}/checkout`);
    expect(demo.output()).toContain(`ip netns exec ${prefix}`);
    const pods = run.pods.map((p) => p.name);
    expect(ownNamespaces().sort()).toEqual([prefix, ...pods.map((p) => ns(p))].sort());
    for (const p of run.pods) {
      expect(p.ip).toMatch(/^10\.244\.0\.\d+$/);
      expect(inNetns(ns(p.name), ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(`${p.ip}/24`);
    }
    // The node's namespace has the bridge and no other way out: loopback, the bridge, the pods' veth ends.
    const links = inNetns(ns(), ['ip', '-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);
    expect(links.filter((l) => l !== 'lo' && l !== 'mesh0' && !/^vp\d+$/.test(l))).toEqual([]);
    expect(inNetns(ns(), ['ip', 'route', 'show', 'default'])).toBe('');
  });

  it('installs proxy-init\'s rules in each meshed pod, and none where there is no app to intercept', () => {
    for (const p of run.pods.filter((x) => x.meshed && x.role === 'workload')) {
      const rules = inNetns(ns(p.name), ['iptables', '-t', 'nat', '-S']);
      expect(rules, p.name).toContain('-A PROXY_INIT_OUTPUT -m owner --uid-owner 2102');
      expect(rules, p.name).toMatch(/-A PROXY_INIT_OUTPUT -p tcp .*-j REDIRECT --to-ports 4140/);
      expect(rules, p.name).toMatch(/-A PROXY_INIT_REDIRECT -p tcp .*-j REDIRECT --to-ports 4143/);
      expect(rules, p.name).toMatch(/^-A OUTPUT .*-j PROXY_INIT_OUTPUT$/m);
    }
    for (const p of run.pods.filter((x) => !x.meshed || x.role === 'ingress')) {
      expect(inNetns(ns(p.name), ['iptables', '-t', 'nat', '-S']), p.name).not.toContain('PROXY_INIT');
    }
  });

  it('runs apps with no proxy variable and each sidecar as UID 2102', () => {
    const apps = run.processes.filter((p) => p.role === 'app');
    expect(apps.length).toBeGreaterThanOrEqual(6);
    for (const p of apps) {
      const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
      expect(environ.filter((e) => /^(https?|grpc|no|all)_proxy=/i.test(e)), p.name).toEqual([]);
      expect(environ).toContain(`POD_IP=${podIp(p.name)}`);
      // Nor the capabilities to undo its pod's rules (NET_ADMIN, bit 12) or leave its namespace (SYS_ADMIN, bit 21).
      const eff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))![1]}`);
      expect(eff & ((1n << 12n) | (1n << 21n)), p.name).toBe(0n);
    }
    for (const p of run.processes.filter((x) => x.role === 'sidecar' || x.role === 'ingress')) {
      expect(readFileSync(`/proc/${p.pid}/status`, 'utf8'), p.name).toMatch(/^Uid:\s+2102\s/m);
    }
  });

  it('serves checkouts through the forwarded front door, mTLS on every hop', async () => {
    const r = await untilNotTimedOut(checkout, timedOut);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.hops).toEqual({ checkoutSawCaller: id('ingress'), ordersSawCaller: id('checkout'), paymentsSawCaller: id('orders') });
    await expectInboundOnlyOverMtls(metrics);
    // The apps dialled Service names (clusterIPs from the pod's hosts file); their proxies routed by the original destination.
    expect(inNetns(ns('checkout-0'), ['getent', 'ahostsv4', 'orders.production.svc.cluster.local'])).toMatch(/^10\.96\.0\.\d+\s/);
  });

  it('splits orders ~90/10 and retries payments\' failures', async () => {
    // 320 checkouts: of 120, a 10% canary served at most 2% about once in 3,000 runs (binomial);
    // of 320, about once in 10^8, so only a broken split fails the bounds.
    await expectCanarySplitWithRetries({ checkout, metrics, batches: 40, concurrent: 8, minOk: 0.98, canaryBetween: [0.02, 0.25], minRetries: 5 });
  });

  it('refuses the rogue', async () => {
    const statsUrl = `http://${podIp('rogue-0')}:8080/stats`;
    // The test runs on the host: the rogue's address answers only inside the demo's namespaces.
    await expectRogueRefused(() => JSON.parse(inNetns(ns(), ['curl', '-sS', '--max-time', '10', statsUrl])) as RogueStats);
  });

  it('mesh pods and mesh viz work from the host, mesh load inside the node\'s namespace', async () => {
    const pods = await mesh(['pods', '-o', 'json']);
    expect(pods.code, pods.err).toBe(0);
    const listed = JSON.parse(pods.out).pods as Array<{ name: string; ready: boolean; identity: string | null }>;
    expect(listed.find((p) => p.name === 'checkout-0')).toMatchObject({ ready: true, identity: id('checkout') });
    expect(listed.every((p) => p.ready)).toBe(true);
    let stat = await mesh(['viz', 'stat', 'deploy', '-o', 'json']);
    for (const deadline = Date.now() + 30_000; !stat.out.includes('checkout') && Date.now() < deadline; stat = await mesh(['viz', 'stat', 'deploy', '-o', 'json'])) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(stat.code, stat.err).toBe(0);
    expect(stat.out).toContain('checkout');
    // Commands that also dial pods' proxies run inside the node's namespace, where pods.json's front door answers too.
    const load = execFileSync('ip', ['netns', 'exec', ns(), process.execPath, 'bin/mesh.js', 'load', '--duration', '3', '--connections', '2'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(load).toMatch(/checkout/);
  });

  it('restarts an app that exits, in the same pod namespace, and the pod is Ready again', async () => {
    const before = run.processes.find((p) => p.name === 'payments-0')!;
    process.kill(before.pid, 'SIGKILL');
    let now = run;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
      now = JSON.parse(readFileSync(join(state, 'pods.json'), 'utf8')) as RunRecord;
      const p = now.processes.find((x) => x.name === 'payments-0')!;
      if ((p.restarts ?? 0) >= 1 && now.pods.find((x) => x.name === 'payments-0')?.status?.ready) break;
    }
    const after = now.processes.find((x) => x.name === 'payments-0')!;
    expect(after.restarts ?? 0).toBeGreaterThanOrEqual(1);
    expect(now.pods.find((x) => x.name === 'payments-0')?.status?.ready).toBe(true);
    expect(readFileSync(`/proc/${after.pid}/environ`, 'utf8')).not.toMatch(/(^|\0)(https?|grpc)_proxy=/i);
    expect(execFileSync('ip', ['netns', 'identify', String(after.pid)], { encoding: 'utf8' }).trim()).toBe(ns('payments-0'));
    const r = await untilNotTimedOut(checkout, timedOut);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
  });

  it('rolls a Deployment out into new pod namespaces and removes the old ones', async () => {
    const r = await mesh(['rollout', 'restart', 'deploy/payments', '-n', 'production']);
    expect(r.code, r.err + r.out).toBe(0);
    const now = JSON.parse(readFileSync(join(state, 'pods.json'), 'utf8')) as RunRecord;
    const payments = now.pods.filter((p) => p.workload === 'payments');
    expect(payments.map((p) => p.name)).not.toContain('payments-0');
    expect(ownNamespaces()).not.toContain(ns('payments-0'));
    for (const p of payments) expect(ownNamespaces()).toContain(ns(p.name));
    expect(inNetns(ns(payments[0]!.name), ['iptables', '-t', 'nat', '-S'])).toContain('PROXY_INIT_OUTPUT');
    const after = await untilNotTimedOut(checkout, timedOut);
    expect(after.status, JSON.stringify(after.json)).toBe(201);
    run = now;
  });

  it('stops on Ctrl-C leaving no namespace, veth, bridge, process or /etc/netns folder', async () => {
    const closed = new Promise<void>((resolve) => demo.child.stdout!.on('close', () => resolve()));
    process.kill(-demo.child.pid!, 'SIGINT');
    await closed;
    expect(demo.output()).toMatch(/SIGINT: stopping every process of the demo/);
    expect(demo.output()).toContain('network namespaces removed');
    expect(ownNamespaces()).toEqual([]);
    const alive = (pid: number) => {
      try {
        return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); // a zombie has ended
      } catch {
        return false;
      }
    };
    // A process the kernel is still tearing down (its memory released, so an empty cmdline, not yet
    // a zombie) has ended all but in name: one was caught so in a CI run. Each gets a few seconds
    // to be gone; one still there after them was left behind.
    const everyone = [...run.processes.map((x) => ({ name: x.name, pid: x.pid })), { name: 'runner', pid: run.runnerPid }];
    let left = everyone.filter((p) => alive(p.pid));
    for (const until = Date.now() + 5000; left.length > 0 && Date.now() < until; left = left.filter((p) => alive(p.pid))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const cmdline = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        return '(gone while read)';
      }
    };
    expect(left.map((p) => `${p.name} (${p.pid}): ${cmdline(p.pid)}`)).toEqual([]);
    for (const p of run.pods) expect(existsSync(`/etc/netns/${ns(p.name)}`)).toBe(false);
    // The veth ends and the bridge lived in the namespaces just deleted; none reached the host's.
    expect(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })).not.toMatch(/\bmesh0\b/);
  }, 60_000);
});
