// The whole demo through `npm start -- --kubernetes`: a real kube-apiserver and controller-manager,
// `mesh install`, the demo's files, and the runner as the node. Every fact flows through the API:
// the pods' status, the EndpointSlices, the policies. Checked as a learner would: kubectl, curl
// through the front door (mTLS on every hop, the canary, retries), the refused rogue, and
// `kubectl delete pod` with its endpoints following. Ctrl-C stops it all, the cluster included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { untilNotTimedOut } from '../helpers/route-timeout.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NETNS = `mk8s-demo-${process.pid}`;
let state: string;
let demo: ChildProcess;
let out = '';

const kubectl = (args: string[]) => {
  const r = spawnSync('ip', ['netns', 'exec', NETNS, 'kubectl', '--kubeconfig', join(state, 'kubernetes', 'admin.kubeconfig'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const curl = (args: string[]) => spawnSync('ip', ['netns', 'exec', NETNS, 'curl', '-s', '--max-time', '10', ...args], { encoding: 'utf8' }).stdout;
const checkout = () => curl(['-X', 'POST', 'http://127.0.0.1:8000/checkout', '-H', 'content-type: application/json', '-d', '{"item":"book","quantity":1}']);

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}\ndemo output:\n${out.slice(-4000)}`);
}

interface Pod { metadata: { name: string; uid: string; labels?: Record<string, string> }; status: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> } }
const pods = (selector = ''): Pod[] => (JSON.parse(kubectl(['-n', 'production', 'get', 'pods', ...(selector ? ['-l', selector] : []), '-o', 'json'])) as { items: Pod[] }).items;
const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const sliceIps = (service: string): string[] => {
  const slices = JSON.parse(kubectl(['-n', 'production', 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`, '-o', 'json'])) as { items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }> };
  return slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses).sort();
};

beforeAll(async () => {
  state = mkdtempSync(join(tmpdir(), 'mesh-k8s-demo-'));
  demo = spawn(process.execPath, [join(ROOT, 'bin', 'mesh.js'), 'demo', '--kubernetes', '--cluster-netns', NETNS, '--state', state, '--ready-timeout', '400', '--restart-backoff', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  demo.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await until('the demo to be up', () => (out.includes('The mesh is up on Kubernetes') ? true : demo.exitCode !== null ? (() => { throw new Error(`the demo exited (${demo.exitCode})`); })() : undefined), 450_000);
}, 480_000);

afterAll(async () => {
  if (demo && demo.exitCode === null) {
    demo.kill('SIGTERM');
    await new Promise((r) => demo.once('close', r));
  }
  if (state) rmSync(state, { recursive: true, force: true });
}, 60_000);

describe('npm start -- --kubernetes', () => {
  it('says how long it took to be ready, and nothing failed on the way', () => {
    expect(out).toMatch(/ready \d+\.\d s after start/);
    expect(out).not.toContain('requests through the front door still fail');
  });

  it('kubectl get pods -n production shows every pod Running and Ready, on the runner\'s node, at 127.0.10.N', () => {
    const all = pods();
    expect(all.map((p) => p.metadata.labels?.app).sort()).toEqual(['checkout', 'ingress', 'orders', 'orders', 'orders', 'payments', 'rogue', 'traffic']);
    for (const p of all) {
      expect(p.status.phase).toBe('Running');
      expect(ready(p)).toBe(true);
      expect(p.status.podIP).toMatch(/^127\.0\.10\.\d+$/);
    }
    expect(kubectl(['-n', 'production', 'get', 'pods'])).toMatch(/checkout-\S+\s+2\/2\s+Running/);
    // The control plane runs on the same node, from mesh install's Deployments.
    expect(kubectl(['-n', 'mesh-system', 'get', 'pods'])).toMatch(/mesh-destination-\S+\s+1\/1\s+Running/);
  });

  it('a checkout crosses every hop over mTLS, with the identity each caller proved', async () => {
    const answer = JSON.parse(await untilNotTimedOut(async () => checkout(), (text) => text.includes('did not answer in time'))) as { hops: Record<string, string> };
    expect(answer.hops).toEqual({
      checkoutSawCaller: 'spiffe://cluster.local/ns/production/sa/ingress',
      ordersSawCaller: 'spiffe://cluster.local/ns/production/sa/checkout',
      paymentsSawCaller: 'spiffe://cluster.local/ns/production/sa/orders',
    });
  });

  it('the canary gets some of the checkouts, and retries absorb payments\' 20% failures', () => {
    // At least 60 checkouts, then on until the canary has served one, up to 240: at a 10% split,
    // 60 see no canary about once in 560 runs; 240 see none about once in 10^11, so a canary
    // still unseen then means the split is broken, not unlucky.
    const served: string[] = [];
    const seen = (who: string) => served.filter((s) => s === who).length;
    while (served.length < 60 || (seen('canary') === 0 && served.length < 240)) {
      served.push((JSON.parse(checkout()) as { servedBy?: string }).servedBy ?? 'failed');
    }
    const counts = `${served.length} checkouts: ${seen('canary')} canary, ${seen('stable')} stable, ${seen('failed')} failed`;
    // As many failures as before per checkout: at most one in 60.
    expect(seen('failed'), counts).toBeLessThanOrEqual(Math.floor(served.length / 60));
    expect(seen('canary'), counts).toBeGreaterThan(0);
    expect(seen('canary') / served.length, counts).toBeLessThan(25 / 60);
  }, 120_000);

  it('the rogue is refused by the Server policy', () => {
    const logs = join(state, 'node', 'logs');
    const file = readdirSync(logs).find((f) => /^production_rogue-.*_rogue\.log$/.test(f))!;
    expect(readFileSync(join(logs, file), 'utf8')).toContain('PERMISSION_DENIED');
  });

  it('kubectl delete pod: the node stops it, the ReplicaSet\'s new pod runs, and the EndpointSlice follows', async () => {
    const [old] = pods('app=payments');
    expect(sliceIps('payments')).toEqual([old!.status.podIP]);
    kubectl(['-n', 'production', 'delete', 'pod', old!.metadata.name, '--wait=true', '--timeout=60s']);
    const fresh = await until('a new payments pod Ready', () => {
      const [p] = pods('app=payments');
      return p && p.metadata.uid !== old!.metadata.uid && ready(p) ? p : undefined;
    }, 120_000);
    await until('the EndpointSlice to name the new pod', () => (sliceIps('payments').join() === fresh.status.podIP ? true : undefined), 60_000);
    await until('checkouts to succeed through the new pod', () => ((JSON.parse(checkout()) as { servedBy?: string }).servedBy ? true : undefined), 60_000);
  }, 200_000);

  it('Ctrl-C stops the pods, then the cluster', async () => {
    demo.kill('SIGINT');
    const code = await new Promise<number | null>((r) => demo.once('close', r));
    expect(code).toBe(0);
    expect(out).toContain('cluster stopped');
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(NETNS);
  }, 60_000);
});
