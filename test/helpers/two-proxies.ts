// Test harness: an outbound proxy on a client pod and an inbound proxy on a server pod, wired by
// development mode's Kubernetes YAML, in front of app servers the test starts on the server pod address.
// Proxies run in this process (fast, inspectable) or as real `mesh proxy` child processes
// (for memory and signal tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'undici';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';
import { Proxy } from '../../proxy/proxy.ts';
import { startProxy } from './control-plane.ts';
import { devResources, type DevService } from './dev-resources.ts';
import { StopFailures } from './teardown.ts';

const REPO = new URL('../..', import.meta.url).pathname;

export interface TwoProxiesOptions {
  clientIp: string;
  serverIp: string;
  services: DevService[];
  mode?: 'in-process' | 'process';
  /** Extra `mesh proxy` flags for both proxies. */
  args?: string[];
  /** Extra environment for child processes. */
  env?: Record<string, string>;
  /** Node's own flags for child processes (`node <nodeArgs> bin/mesh.js proxy ...`), such as V8's tracing. */
  nodeArgs?: string[];
  /** mTLS between the proxies (in-process mode): each side's credentials. */
  mtls?: { client: TlsCredentials; server: TlsCredentials };
  /** What the test started on the server pod for the proxies to front: close() stops each, after the proxies (and so does a failed start). */
  apps?: Array<{ close(): unknown }>;
}

export interface ProxyHandle {
  host: string;
  port: number;
  adminPort: number;
  /** Child process mode only. */
  pid?: number;
  /** In-process mode only. */
  proxy?: Proxy;
  /** Parsed log lines so far. */
  logs: Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  /** Resident memory in bytes (child process mode: from /proc; in-process: this process). */
  rss(): number;
  /** Child process mode only: resolves with the exit code. */
  exited?: Promise<number | null>;
  /** Child process mode only: its standard output so far, as written (log lines and anything else, such as V8's traces). */
  stdout?(): string;
}

export interface TwoProxies {
  outbound: ProxyHandle;
  inbound: ProxyHandle;
  /** `http://clientIp:outboundPort`, for HTTP_PROXY-style clients. */
  proxyUrl: string;
  close(): Promise<void>;
}

export async function startTwoProxies(opts: TwoProxiesOptions): Promise<TwoProxies> {
  // Every app is closed even when one fails to: the failures come out together afterwards.
  const closeApps = async () => {
    const failures = new StopFailures();
    for (const [i, app] of (opts.apps ?? []).entries()) await failures.attempt(`app ${i}`, () => app.close());
    failures.throwIfAny('the apps behind the proxies');
  };
  return startProxiesFor(opts).then(
    (mesh) => ({ ...mesh, close: () => mesh.close().finally(closeApps) }),
    async (err: unknown) => {
      await closeApps().catch(() => {}); // the start's own error is the one worth reporting
      throw err;
    },
  );
}

async function startProxiesFor(opts: TwoProxiesOptions): Promise<TwoProxies> {
  const dir = mkdtempSync(join(tmpdir(), 'two-proxies-'));
  const file = join(dir, 'endpoints.json');
  // The server pod first without its services (its proxy's inbound port is not known yet).
  writeFileSync(file, devResources({ name: 'server-0', ip: opts.serverIp, inboundPort: 4143 }, []));
  const start = (args: string[], env: Record<string, string> | undefined, credentials?: TlsCredentials) =>
    opts.mode === 'process' ? startChild(args, env, opts.nodeArgs) : startInProcess(args, credentials);
  const base = ['--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0', '--tap-port', '0', ...(opts.args ?? [])];
  const ports = opts.services.length > 0 ? ['--app-port', String(opts.services[0]!.port)] : [];
  const inbound = await start([...base, ...ports, '--pod-ip', opts.serverIp, '--endpoints-file', file], opts.env, opts.mtls?.server);
  writeFileSync(file, devResources({ name: 'server-0', ip: opts.serverIp, inboundPort: inbound.port, identity: opts.mtls?.server.identity }, opts.services));
  const outbound = await start([...base, '--pod-ip', opts.clientIp, '--endpoints-file', file], opts.env, opts.mtls?.client).catch(async (err) => {
    await inbound.stop();
    throw err;
  });
  return {
    outbound,
    inbound,
    proxyUrl: `http://${opts.clientIp}:${outbound.port}`,
    async close() {
      await Promise.all([outbound.stop(), inbound.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Two proxies and the one app behind them. */
export interface AppBehindProxies<A> extends TwoProxies {
  app: A;
}

/**
 * The common case of the data-path tests: one app started on the server pod, reached through both
 * proxies as `authority`. close() stops the proxies, then the app.
 */
export async function startAppBehindTwoProxies<A extends { port: number; close(): Promise<void> }>(
  startApp: (host: string) => Promise<A>,
  opts: Omit<TwoProxiesOptions, 'services'> & { authority: string },
): Promise<AppBehindProxies<A>> {
  const { authority, ...rest } = opts;
  const app = await startApp(opts.serverIp);
  return { ...(await startTwoProxies({ ...rest, services: [{ authority, port: app.port }], apps: [app] })), app };
}

type Started = ProxyHandle & { stop(): Promise<void> };

function adminMetrics(host: string, port: number): Promise<string> {
  return fetch(`http://${host}:${port}/metrics`).then((r) => r.text());
}

async function startInProcess(args: string[], credentials?: TlsCredentials): Promise<Started> {
  const p = await startProxy(args, credentials);
  return {
    host: p.ip,
    port: args.includes('--app-port') ? p.inboundPort : p.outboundPort,
    adminPort: p.adminPort,
    proxy: p.proxy,
    logs: p.logs,
    metrics: p.metrics,
    rss: () => process.memoryUsage().rss,
    stop: p.stop,
  };
}

/** The outbound port for the client side, the inbound port for the server side (told by --app-port). */
function portsOf(a: { outbound: { port: number }; inbound: { port: number } }, args: string[]): { port: number } {
  return { port: args.includes('--app-port') ? a.inbound.port : a.outbound.port };
}

async function startChild(args: string[], env?: Record<string, string>, nodeArgs: string[] = []): Promise<Started> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, 'bin/mesh.js', 'proxy', ...args], {
    cwd: REPO,
    env: { ...process.env, MESH_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const listening = new Promise<{ outbound: { port: number }; inbound: { port: number }; admin: { port: number } }>((resolve, reject) => {
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'proxy listening') resolve(entry as never);
      }
    });
    child.once('close', (code) => reject(new Error(`mesh proxy exited with ${code} before listening: ${stderr}`)));
  });
  const a = await listening;
  const host = args[args.indexOf('--pod-ip') + 1]!;
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    host,
    ...portsOf(a, args),
    adminPort: a.admin.port,
    pid: child.pid,
    logs,
    metrics: () => adminMetrics(host, a.admin.port),
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    exited,
    stdout: () => stdout,
  };
}

/**
 * One round of traffic through the proxies: `connections` request loops side by side, each
 * `perConnection` GETs in a row to `authority`, every answer a 200 read to its end. For tests that
 * wait on what traffic does to a proxy process (its GC, its compiler): they poll, calling this
 * until the effect shows, since how much traffic that takes depends on the machine.
 */
export async function trafficRound(pool: Pool, authority: string, connections = 4, perConnection = 250): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, async () => {
      for (let i = 0; i < perConnection; i++) {
        const res = await pool.request({ path: '/', method: 'GET', headers: { host: authority } });
        if (res.statusCode !== 200) throw new Error(`GET / through the proxies answered ${res.statusCode}: ${await res.body.text()}`);
        await res.body.text();
      }
    }),
  );
}
