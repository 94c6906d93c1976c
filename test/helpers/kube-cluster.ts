// A real Kubernetes control plane for a test (etcd + kube-apiserver + kube-controller-manager
// v1.20.2, built by kubernetes/cluster/build.sh) in a network namespace of its own, so several run
// at once. Gives its kubeconfig, kubectl and processes inside the namespace, bridges to reach its
// ports from this process, and stops everything by PID. Needs root (CI runs as root); fails loudly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CLUSTER_DIR = resolve(import.meta.dirname, '..', '..', 'kubernetes', 'cluster');
export const REPO_DIR = resolve(import.meta.dirname, '..', '..');
/** The bearer token of the cluster's admin (system:masters), from its static token file. */
export const ADMIN_TOKEN = 'admin-token';
const IP = spawnSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).stdout.trim() || 'ip';
const PREFIX = 'mk8s';

export interface Ran {
  code: number;
  out: string;
  err: string;
}

export interface KubeClusterOptions {
  /** Also start kube-controller-manager (EndpointSlices, service-account tokens, garbage collection). Default true. */
  controllerManager?: boolean;
}

/** Builds the binaries once (cached in ~/.cache/mesh-k8s; a cold build prints its progress). Throws if the build fails. */
export function ensureKubernetesBuilt(): void {
  const r = spawnSync(join(CLUSTER_DIR, 'build.sh'), { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`kubernetes/cluster/build.sh failed (exit ${r.status ?? r.signal}): the Kubernetes suite cannot run without the control plane`);
}

export class KubeCluster {
  /** Admin kubeconfig whose server is https://127.0.0.1:6443: valid inside `netns` (kubectl, spawn()). */
  readonly kubeconfig: string;
  /** CA that signed the apiserver's serving certificate. */
  readonly caFile: string;
  private readonly children = new Set<ChildProcess>();
  private readonly bridges = new Set<ChildProcess>();
  private stopped = false;

  private constructor(
    readonly netns: string,
    readonly runDir: string,
    readonly apiserverPort: number,
  ) {
    this.kubeconfig = join(runDir, 'admin.kubeconfig');
    this.caFile = join(runDir, 'pki', 'ca.crt');
  }

  /** Starts a fresh cluster (own netns, own run dir, empty etcd). Ready when /readyz says ok. */
  static async start(options: KubeClusterOptions = {}): Promise<KubeCluster> {
    sweepOrphans();
    const netns = `${PREFIX}-${process.pid}-${randomBytes(2).toString('hex')}`;
    const runDir = mkdtempSync(join(tmpdir(), `${netns}-`));
    const cluster = new KubeCluster(netns, runDir, 6443);
    process.once('exit', () => cluster.stopSync());
    const env = { ...process.env, NETNS: netns, RUN_DIR: runDir, WITH_KCM: options.controllerManager === false ? '0' : '1' };
    const ran = await run(join(CLUSTER_DIR, 'run.sh'), [], env);
    if (ran.code !== 0 || !/\bready\s*$/.test(ran.out)) {
      cluster.stopSync();
      throw new Error(`the Kubernetes control plane did not start (kubernetes/cluster/run.sh exit ${ran.code}):\n${ran.err}${ran.out}`);
    }
    return cluster;
  }

  /** PIDs of etcd, kube-apiserver and kube-controller-manager (what stop() kills). */
  pids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager']) {
      const f = join(this.runDir, `${c}.pid`);
      if (existsSync(f)) out[c] = Number(readFileSync(f, 'utf8').trim());
    }
    return out;
  }

  /** kubectl inside the namespace as the admin; `input` goes to its stdin (`apply -f -`). */
  kubectl(args: string[], input?: string): Promise<Ran> {
    return run(IP, ['netns', 'exec', this.netns, 'kubectl', '--kubeconfig', this.kubeconfig, ...args], process.env, input);
  }

  /** kubectl that must succeed: its stdout, or an error with its stderr. */
  async kubectlOk(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.err.trim()}`);
    return r.out;
  }

  /** `kubectl apply -f -` of `yaml`. */
  apply(yaml: string): Promise<string> {
    return this.kubectlOk(['apply', '-f', '-'], yaml);
  }

  /** A Node named `name` for pods to name in `spec.nodeName`: no kubelet runs, so the test sets those pods' status itself. */
  addNode(name: string): Promise<string> {
    return this.apply(`apiVersion: v1\nkind: Node\nmetadata: {name: ${name}}\n`);
  }

  /** Waits until namespace `ns` has ServiceAccount `name` (the controller-manager makes `default`). */
  async waitForServiceAccount(ns: string, name = 'default', timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await this.kubectl(['-n', ns, 'get', 'serviceaccount', name])).code !== 0) {
      if (Date.now() > until) throw new Error(`serviceaccount ${ns}/${name} did not appear within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** Starts `argv` inside the namespace (stdout/stderr piped); killed by stop() if still running. */
  spawn(argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn(IP, ['netns', 'exec', this.netns, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('close', () => this.children.delete(child));
    child.on('error', (err) => child.stderr?.emit('data', `cannot start ip netns exec: ${err.message}`));
    return child;
  }

  /** `node bin/mesh.js ARGS` inside the namespace (the mesh's own processes: destination, identity, injector). */
  mesh(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    return this.spawn([process.execPath, join(REPO_DIR, 'bin', 'mesh.js'), ...args], env);
  }

  /** A port on this process's 127.0.0.1 that reaches 127.0.0.1:`port` inside the namespace. */
  async exposeToHost(port: number): Promise<number> {
    const sock = join(this.runDir, `to-ns-${port}-${randomBytes(3).toString('hex')}.sock`);
    await this.bridge(['ip', 'netns', 'exec', this.netns, process.execPath, join(CLUSTER_DIR, 'bridge.mjs'), 'listen-unix', sock, String(port)]);
    return this.bridge([process.execPath, join(CLUSTER_DIR, 'bridge.mjs'), 'listen-tcp', '0', sock]);
  }

  /** A port on the namespace's 127.0.0.1 (`nsPort`, 0: any) that reaches this process's 127.0.0.1:`hostPort` (a webhook served by the test). */
  async exposeToNetns(hostPort: number, nsPort = 0): Promise<number> {
    const sock = join(this.runDir, `to-host-${hostPort}-${randomBytes(3).toString('hex')}.sock`);
    await this.bridge([process.execPath, join(CLUSTER_DIR, 'bridge.mjs'), 'listen-unix', sock, String(hostPort)]);
    return this.bridge(['ip', 'netns', 'exec', this.netns, process.execPath, join(CLUSTER_DIR, 'bridge.mjs'), 'listen-tcp', String(nsPort), sock]);
  }

  /** The admin kubeconfig rewritten for this process: its server is a bridge to the apiserver. */
  async hostKubeconfig(): Promise<string> {
    const port = await this.exposeToHost(this.apiserverPort);
    return this.kubeconfigAt(`https://127.0.0.1:${port}`, 'host');
  }

  /** A copy of the admin kubeconfig with another server URL (e.g. one that points nowhere). */
  kubeconfigAt(server: string, tag: string): string {
    const file = join(this.runDir, `${tag}.kubeconfig`);
    writeFileSync(file, readFileSync(this.kubeconfig, 'utf8').replace(/server: "[^"]+"/, `server: "${server}"`));
    return file;
  }

  /**
   * A kubeconfig for ServiceAccount ns/name (a token from TokenRequest), server as seen from this
   * process through `server` (default: the in-namespace address). RBAC then applies, unlike the admin's.
   */
  async serviceAccountKubeconfig(ns: string, name: string, server = `https://127.0.0.1:${this.apiserverPort}`): Promise<string> {
    const token = (await this.kubectlOk(['-n', ns, 'create', 'token', name, '--duration', '1h'])).trim();
    const file = join(this.runDir, `sa-${ns}-${name}-${randomBytes(2).toString('hex')}.kubeconfig`);
    writeFileSync(file, [
      'apiVersion: v1', 'kind: Config',
      `clusters: [{name: local, cluster: {server: "${server}", certificate-authority: ${this.caFile}}}]`,
      `users: [{name: ${name}, user: {token: "${token}"}}]`,
      `contexts: [{name: local, context: {cluster: local, user: ${name}, namespace: ${ns}}}]`,
      'current-context: local', '',
    ].join('\n'));
    return file;
  }

  /** Kills the apiserver alone (SIGKILL by PID): watches break; etcd keeps the state. */
  stopApiserver(): void {
    const pid = this.pids()['kube-apiserver'];
    if (pid) killPid(pid, 'SIGKILL');
  }

  /** Starts the apiserver again with the same command line; resolves when /readyz says ok. */
  async startApiserver(): Promise<void> {
    const ran = await run(join(CLUSTER_DIR, 'run.sh'), [], { ...process.env, NETNS: this.netns, RUN_DIR: this.runDir, WITH_KCM: '1' });
    if (ran.code !== 0) throw new Error(`the apiserver did not come back: ${ran.err}${ran.out}`);
  }

  /** Stops every process it started (by PID), deletes the namespace and the run dir. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopSync();
  }

  private stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const child of [...this.children, ...this.bridges]) if (child.exitCode === null && child.pid) child.kill('SIGKILL');
    spawnSync(join(CLUSTER_DIR, 'stop.sh'), { env: { ...process.env, NETNS: this.netns, RUN_DIR: this.runDir, WIPE: process.env['MESH_K8S_KEEP'] ? '0' : '1' }, stdio: 'ignore' });
  }

  private bridge(argv: string[]): Promise<number> {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.bridges.add(child);
    return new Promise((resolvePort, reject) => {
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        const m = /ready (\d+)/.exec(d);
        if (m) resolvePort(Number(m[1]));
      });
      child.on('close', (code) => reject(new Error(`bridge ${argv.join(' ')} exited (${code}): ${err.trim()}`)));
    });
  }
}

/** Runs a command to its end, output read until 'close'. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Ran> {
  const child = spawn(cmd, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (input !== undefined) child.stdin!.end(input);
  return new Promise((done) => {
    child.on('error', (e) => done({ code: -1, out, err: err + e.message }));
    child.on('close', (code) => done({ code: code ?? -1, out, err }));
  });
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Clusters of test processes that died before stopping them: their PIDs stopped, namespace and run dir deleted. */
function sweepOrphans(): void {
  const listed = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const name of listed.split('\n').map((l) => l.split(' ')[0]!)) {
    const pid = new RegExp(`^${PREFIX}-(\\d+)-[0-9a-f]{4}$`).exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    const dirs = spawnSync('sh', ['-c', `ls -d ${tmpdir()}/${name}-* 2>/dev/null`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    for (const dir of dirs) {
      spawnSync(join(CLUSTER_DIR, 'stop.sh'), { env: { ...process.env, NETNS: name, RUN_DIR: dir, WIPE: '1' }, stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
    spawnSync(IP, ['netns', 'del', name], { stdio: 'ignore' });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
