// `mesh pods` shows the kubelet's status as kubectl does (READY 2/2, STATUS, RESTARTS, AGE), and
// `mesh rollout restart` says clearly what is wrong with its arguments or the demo it talks to.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { age } from '../../cli/commands/pods.ts';
import type { PodStatusRecord, RunRecord } from '../../examples/orders-checkout/runner/state.ts';

const ROOT = join(import.meta.dirname, '../..');

function runMesh(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/mesh.js'), ...args], { cwd: ROOT, env: { ...process.env, MESH_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out, err })));
}

/** A state folder as the runner leaves it, owned by this (alive) process. */
function writeState(dir: string, record: Partial<RunRecord> = {}): void {
  mkdirSync(dir, { recursive: true });
  const run: RunRecord = { runnerPid: process.pid, startedAt: new Date().toISOString(), ingressUrl: 'http://127.0.41.1:8000', stateDir: dir, pods: [], processes: [], ...record };
  writeFileSync(join(dir, 'pods.json'), JSON.stringify(run));
}

const tmp = mkdtempSync(join(tmpdir(), 'mesh-pods-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
const container = (name: string, ready: boolean, restarts: number, state: 'running' | 'waiting' = 'running') =>
  ({ name, ready, restarts, state, startedAt: ago(5), pid: 1 });
const status = (ready: boolean, age: number, containers: PodStatusRecord['containers']): PodStatusRecord => ({ ready, createdAt: ago(age), containers });
const pod = (name: string, ip: string, s: PodStatusRecord) => ({
  name, namespace: 'production', workload: name.replace(/-\d+$/, ''), ip, serviceAccount: 'orders', identity: 'spiffe://cluster.local/ns/production/sa/orders',
  meshed: true, adminUrl: `http://${ip}:4191`, appPorts: [8080], role: 'workload' as const, status: s,
});

describe('mesh pods', () => {
  // Ages chosen where kubectl's format does not change for a minute: the command runs a moment later.
  it('shows READY as ready/total containers, STATUS, RESTARTS and AGE, then the control plane', async () => {
    const dir = join(tmp, 'state');
    writeState(dir, {
      pods: [
        pod('orders-stable-0', '127.0.41.3', status(true, 3700, [container('linkerd-proxy', true, 0), container('orders-stable-0', true, 2)])),
        pod('orders-canary-0', '127.0.41.4', status(false, 18_010, [container('linkerd-proxy', true, 1), container('orders-canary-0', false, 3, 'waiting')])),
      ],
      controlPlanePods: [{ name: 'destination', namespace: 'mesh-system', address: '127.0.41.251', status: status(true, 30_000, [container('destination', true, 1)]) }],
    });
    const r = await runMesh(['pods', '--state', dir]);
    expect(r.err).toBe('');
    const rows = r.out.trim().split('\n').map((l) => l.split(/\s{2,}/));
    expect(rows[0]!.slice(0, 6)).toEqual(['NAME', 'NAMESPACE', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(rows[1]!.slice(0, 6)).toEqual(['orders-stable-0', 'production', '2/2', 'Running', '2', '61m']);
    expect(rows[2]!.slice(0, 6)).toEqual(['orders-canary-0', 'production', '1/2', 'CrashLoopBackOff', '4', '5h']);
    expect(rows[3]!.slice(0, 6)).toEqual(['destination', 'mesh-system', '1/1', 'Running', '1', '8h']);
    const json = JSON.parse((await runMesh(['pods', '-o', 'json', '--state', dir])).out).pods;
    expect(json[1]).toMatchObject({ name: 'orders-canary-0', ready: false, containers: '1/2', restarts: 4, status: 'CrashLoopBackOff' });
  });

  it('shows CrashLoopBackOff from the first exit, while the container waits out its first back-off (the README\'s kill -9)', async () => {
    const dir = join(tmp, 'first-exit');
    writeState(dir, {
      pods: [pod('orders-canary-0', '127.0.41.4', status(false, 70, [container('linkerd-proxy', true, 0), container('orders-canary-0', false, 0, 'waiting')]))],
      controlPlanePods: [],
    });
    const r = await runMesh(['pods', '--state', dir]);
    expect(r.err).toBe('');
    expect(r.out.trim().split('\n')[1]!.split(/\s{2,}/).slice(0, 5)).toEqual(['orders-canary-0', 'production', '1/2', 'CrashLoopBackOff', '0']);
  });

  it('writes AGE as kubectl does', () => {
    expect([59, 119, 120, 200, 600, 3700, 10_800, 11_100, 100_000, 200_000, 800_000].map(age)).toEqual(['59s', '119s', '2m', '3m20s', '10m', '61m', '3h', '3h5m', '27h', '2d7h', '9d']);
  });
});

describe('mesh rollout restart', () => {
  it('wants deploy/NAME, or deployment for all', async () => {
    const r = await runMesh(['rollout', 'restart', 'orders-stable', '--state', join(tmp, 'state')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('mesh rollout restart: resource: unknown resource kind "orders-stable"; use deploy, po, ns, au or svc');
    const pod = await runMesh(['rollout', 'restart', 'po/orders-stable-0', '--state', join(tmp, 'state')]);
    expect(pod.code).toBe(2);
    expect(pod.err).toContain('mesh rollout restart: expected deploy/NAME (a Deployment), or deployment for every one in the namespace, got "po/orders-stable-0"');
  });

  it('wants a namespace name after -n', async () => {
    for (const ns of ['', '..', 'Prod', 'a/b', '<b>x</b>']) {
      const r = await runMesh(['rollout', 'restart', 'deployment', '-n', ns, '--state', join(tmp, 'state')]);
      expect(r.code, ns).toBe(2);
      expect(r.err, ns).toContain(`-n must be a namespace name (lowercase letters, digits and '-'), got ${JSON.stringify(ns)}`);
    }
  });

  it('says when the demo has no control socket to ask', async () => {
    const dir = join(tmp, 'old');
    writeState(dir);
    const r = await runMesh(['rollout', 'restart', 'deploy/orders-stable', '--state', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('has no control socket');
  });
});
