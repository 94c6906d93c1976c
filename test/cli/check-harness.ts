// A small real mesh for `mesh check`'s tests, on a 127.41.N.x of its own: `mesh identity serve`,
// `mesh destination serve` and `mesh proxy` processes, and state folders (pods.json) pointing at
// them, so each test can break one thing on purpose and read what `mesh check` says.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodRecord, RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { sidecarEnvironment } from '../../examples/orders-checkout/runner/mesh-commands.ts';
import { initIdentityDir } from '../../identity/files.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { runMesh } from './run-mesh.ts';

export const ROOT = join(import.meta.dirname, '../..');
/**
 * A /24 of its own per run: the test binds fixed ports (8080, 8086, 4190, 4191) as the demo
 * does, and another engineer's run of this same file may be going on at the same time.
 */
export const NET = await addressBlock();
export const IDENTITY_ADDR = `${NET}.10:8080`;
export const DESTINATION_ADDR = `${NET}.11:8086`;
export const VIZ_ADDR = `${NET}.12:8085`;
export const MANIFESTS = join(ROOT, 'examples/orders-checkout/manifests');

/** A process of the test's mesh; its output kept for the failure message. */
export interface Running {
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

export function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [join(ROOT, 'bin/mesh.js'), ...args], { cwd: ROOT, env: { ...process.env, MESH_LOG_LEVEL: 'warn', ...env } });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d));
  child.stderr!.on('data', (d: Buffer) => (text += d));
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  return {
    child, output: () => text,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
    },
  };
}

/** Polls `probe` until it resolves true; generous, for a loaded two-core machine. */
export async function until(what: string, probe: () => Promise<boolean>, running?: Running, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms${running ? `:\n${running.output()}` : ''}`);
}

export const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).status === 200;

/** Makes the CA in `<state>/identity` and a token for `ns/sa`. */
export async function makeCa(state: string): Promise<void> {
  await initIdentityDir(join(state, 'identity'), { trustDomain: 'cluster.local' });
  mkdirSync(join(state, 'tokens'), { recursive: true });
}

export async function mintToken(state: string, ns: string, sa: string): Promise<string> {
  const r = await runMesh(['identity', 'token', '--dir', join(state, 'identity'), '--namespace', ns, '--service-account', sa]);
  if (r.code !== 0) throw new Error(`mesh identity token: ${r.err}`);
  const file = join(state, 'tokens', `${ns}-${sa}.jwt`);
  writeFileSync(file, r.out.trim() + '\n', { mode: 0o600 });
  return file;
}

export interface TestPod {
  name: string;
  namespace: string;
  serviceAccount: string;
  ip: string;
}

export function podRecord(p: TestPod): PodRecord {
  return {
    name: p.name, namespace: p.namespace, workload: p.name.replace(/-\d+$/, ''), ip: p.ip, serviceAccount: p.serviceAccount,
    identity: `spiffe://cluster.local/ns/${p.namespace}/sa/${p.serviceAccount}`, meshed: true, adminUrl: `http://${p.ip}:4191`, appPorts: [8080], role: 'workload',
  };
}

/** A sidecar for `pod`, certified by the CA at `identityAddr`, as the demo starts one. */
export async function startProxy(state: string, pod: TestPod, identityAddr = IDENTITY_ADDR): Promise<Running> {
  const env = sidecarEnvironment({
    pod: { name: pod.name, namespace: pod.namespace, labels: { app: pod.name.replace(/-\d+$/, '') }, ip: pod.ip, ports: [{ name: 'http', port: 8080 }] },
    serviceAccount: pod.serviceAccount, identity: `spiffe://cluster.local/ns/${pod.namespace}/sa/${pod.serviceAccount}`,
    identityAddr, destinationAddr: DESTINATION_ADDR,
    trustAnchorsFile: join(state, 'identity', 'ca.crt'), tokenFile: await mintToken(state, pod.namespace, pod.serviceAccount),
  });
  return start(['proxy'], env);
}

/** A state folder as the runner writes it, owned by this (live) test process. */
export function writeRun(dir: string, pods: PodRecord[], cp: Partial<NonNullable<RunRecord['controlPlane']>> & { trustAnchorsFile: string }): void {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const run: RunRecord = {
    runnerPid: process.pid, startedAt: new Date().toISOString(), ingressUrl: `http://${NET}.1:8000`, stateDir: dir, pods, processes: [],
    controlPlane: { identityAddr: IDENTITY_ADDR, destinationAddr: DESTINATION_ADDR, resourcesDir: MANIFESTS, vizAddr: VIZ_ADDR, ...cp },
  };
  writeFileSync(join(dir, 'pods.json'), JSON.stringify(run, null, 2));
}

/** A copy of the demo's resources, to break one on purpose. */
export function copyManifests(to: string): string {
  cpSync(MANIFESTS, to, { recursive: true });
  return to;
}
