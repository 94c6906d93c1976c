// Harness for the whole-mesh tests: a real CA (identity/server.ts over gRPC/TLS) and a real
// destination (over mTLS, from a YAML folder), proxies configured only through `mesh proxy`
// settings (so they build their own IdentityClient and DestinationClient), and small apps on
// pod addresses in the test's own loopback /24 (address-block.ts) that say which pod answered and who called.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type forge from 'node-forge';
import pino from 'pino';
import { startDestination, type DestinationServer } from '../../destination/server.ts';
import { CertificateAuthority } from '../../identity/ca.ts';
import { startIdentityServer, type RunningIdentityServer } from '../../identity/server.ts';
import { Ed25519TokenValidator, mintToken } from '../../identity/token.ts';
import { loadConfig } from '../../proxy/config.ts';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';
import { generateRsaKeyPair } from '../../api/keypair.ts';
import { StaticCredentials } from '../../proxy/identity/static-credentials.ts';
import { createLogger } from '../../api/log.ts';
import { Proxy } from '../../proxy/proxy.ts';
import { StopFailures } from './teardown.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'destination', 'fixtures');
export const DESTINATION_IDENTITY = 'spiffe://cluster.local/ns/mesh-system/sa/destination';
const quiet = () => pino({ level: process.env['MESH_TEST_LOG'] ?? 'silent' });

export interface ControlPlane {
  dir: string;
  ca: CertificateAuthority;
  anchorsFile: string;
  identity?: RunningIdentityServer;
  destination?: DestinationServer;
  /** The destination's resource folder (edit files here to change the mesh). */
  resourcesDir: string;
  /** Writes a token file for ns/sa (minted by the control plane's key) and returns its path. */
  tokenFile(namespace: string, serviceAccount: string): string;
  startIdentity(addr: string): Promise<RunningIdentityServer>;
  startDestination(addr: string, registrationGraceMs?: number): Promise<DestinationServer>;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Workload certificate lifetime (default 24 h). */
  certLifetimeMs?: number;
  /** Fixture folders (under test/destination/fixtures) copied into the resource folder. */
  fixtures?: string[];
}

export async function controlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-'));
  const resourcesDir = join(dir, 'resources');
  mkdirSync(resourcesDir);
  for (const f of options.fixtures ?? []) cpSync(join(FIXTURES, f), resourcesDir, { recursive: true });
  const ca = await CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const anchorsFile = join(dir, 'ca.crt');
  writeFileSync(anchorsFile, ca.material.trustAnchorsPem);
  const pair = generateKeyPairSync('ed25519');
  const tokenKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const tokens = new Ed25519TokenValidator(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const destinationKeys = await generateRsaKeyPair();
  const cp: ControlPlane = {
    dir,
    ca,
    anchorsFile,
    resourcesDir,
    tokenFile(namespace, serviceAccount) {
      const file = join(dir, `${namespace}-${serviceAccount}.jwt`);
      writeFileSync(file, mintToken(tokenKeyPem, { namespace, serviceAccount }));
      return file;
    },
    async startIdentity(addr) {
      cp.identity = await startIdentityServer({ ca, tokens, trustDomain: 'cluster.local', certLifetimeMs: options.certLifetimeMs ?? 24 * 3_600_000, addr, logger: quiet() });
      return cp.identity;
    },
    async startDestination(addr, registrationGraceMs = 0) {
      const issued = ca.issue(destinationKeys.forgePublicKey as forge.pki.PublicKey, { uri: DESTINATION_IDENTITY });
      cp.destination = await startDestination({
        resourcesDir,
        addr,
        registrationGraceMs,
        tls: { key: destinationKeys.privateKeyPem, cert: [issued.leafPem, ...issued.intermediatesPem].join(''), ca: ca.material.trustAnchorsPem },
        logger: quiet(),
      });
      return cp.destination;
    },
    async close() {
      const failures = new StopFailures();
      await Promise.all([failures.attempt('identity', () => cp.identity?.close()), failures.attempt('destination', () => cp.destination?.close())]);
      rmSync(dir, { recursive: true, force: true });
      failures.throwIfAny('stopping the control plane');
    },
  };
  return cp;
}

/** Credentials from `ca` made by hand (the CA would never issue an expired one): `nowMs` in the past makes it expired. */
export async function handMadeCredentials(ca: CertificateAuthority, identity: string, options: { nowMs?: number; lifetimeMs?: number } = {}): Promise<StaticCredentials> {
  const keys = await generateRsaKeyPair();
  const issued = ca.issue(keys.forgePublicKey as forge.pki.PublicKey, { uri: identity }, options);
  return new StaticCredentials(identity, ca.material.trustAnchorsPem, { keyPem: keys.privateKeyPem, certChainPem: [issued.leafPem, ...issued.intermediatesPem].join('') });
}

export interface MeshPod {
  name: string;
  namespace?: string;
  serviceAccount: string;
  ip: string;
  labels?: Record<string, string>;
  /** App ports announced in the registration (`name:port` or `port`). */
  ports?: string[];
  /** Extra `mesh proxy` flags. */
  args?: string[];
}

export interface RunningProxy {
  proxy: Proxy;
  ip: string;
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
  logs: Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  /** GET /ready: status and body. */
  ready(): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/** The `mesh proxy` flags for `pod` against `cp` (identity; destination when it runs). */
export function proxyArgs(cp: ControlPlane, pod: MeshPod): string[] {
  const ns = pod.namespace ?? 'production';
  const args = [
    '--pod-ip', pod.ip, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0',
    '--identity-addr', cp.identity!.addr, '--trust-anchors', cp.anchorsFile, '--token-file', cp.tokenFile(ns, pod.serviceAccount),
    '--pod-namespace', ns, '--service-account', pod.serviceAccount, '--pod-name', pod.name,
    '--shutdown-grace-ms', '1000',
  ];
  if (cp.destination) args.push('--destination-addr', cp.destination.address);
  if (pod.labels) args.push('--pod-labels', Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`).join(','));
  if (pod.ports) args.push('--pod-ports', pod.ports.join(','));
  return [...args, ...(pod.args ?? [])];
}

/**
 * A proxy in this process, configured by flags alone: it makes its own identity and destination
 * clients. `credentials` replaces the identity (peers with hand-made certificates).
 */
export async function startProxy(args: string[], credentials?: TlsCredentials, env: Record<string, string | undefined> = {}): Promise<RunningProxy> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig(args, env);
  const proxy = new Proxy(config, { credentials, logger: createLogger('proxy', { destination: sink, level: process.env.TEST_LOG_LEVEL ?? 'debug' }) });
  const a = await proxy.start();
  const admin = `http://${config.podIp}:${a.admin.port}`;
  return {
    proxy,
    ip: config.podIp,
    outboundPort: a.outbound.port,
    inboundPort: a.inbound.port,
    adminPort: a.admin.port,
    logs,
    metrics: () => fetch(`${admin}/metrics`).then((r) => r.text()),
    ready: async () => {
      const r = await fetch(`${admin}/ready`);
      return { status: r.status, body: await r.text() };
    },
    stop: () => proxy.shutdown('test done'),
  };
}

export interface MeshParts {
  /** The test's own clients (a Pool, a gRPC stub), closed first and in order, so no call outlives the mesh. */
  clients?: Array<{ close(): unknown } | undefined>;
  proxies: RunningProxy[];
  apps: Array<{ close(): Promise<void> }>;
  cp: ControlPlane | undefined;
}

/**
 * Tears a whole-mesh test down in the reverse of the order it was built: the test's clients, then
 * every proxy, then every app, then the control plane. A part failing to stop does not leave the
 * others running, nor is it hidden: once every part was tried, the failures are thrown together.
 */
export async function stopMesh(parts: MeshParts): Promise<void> {
  const failures = new StopFailures();
  for (const [i, c] of (parts.clients ?? []).entries()) await failures.attempt(`client ${i}`, () => c?.close());
  await Promise.all(parts.proxies.map((p) => failures.attempt(`the proxy at ${p.ip}`, () => p.stop())));
  await Promise.all(parts.apps.map((a, i) => failures.attempt(`app ${i}`, () => a.close())));
  await failures.attempt('the control plane', () => parts.cp?.close());
  failures.throwIfAny('stopping the mesh');
}

/** Polls `check` until it returns true (or throws its last error after `timeoutMs`). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface PodApp {
  server: Server;
  /** Requests seen, with the caller identity the proxy passed on. */
  seen: Array<{ path: string; clientId?: string }>;
  close(): Promise<void>;
}

/** An HTTP app on `ip:port` answering `{pod, clientId, path}` (clientId from `l5d-client-id`). */
export async function startPodApp(ip: string, port: number, pod: string): Promise<PodApp> {
  const seen: PodApp['seen'] = [];
  const server = createServer((req, res) => {
    const clientId = req.headers['l5d-client-id'] as string | undefined;
    seen.push({ path: req.url ?? '', clientId });
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ pod, clientId: clientId ?? null, path: req.url }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  return {
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The value of a Prometheus sample whose labels include all of `labels` (sum over matches), or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

const REPO = new URL('../..', import.meta.url).pathname;

export interface ChildProxy {
  child: ChildProcess;
  adminPort: number;
  inboundPort: number;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string | null>;
}

/** A real `mesh proxy` process configured by `env` alone (the names the injector and the demo runner set); `nodeArgs` go to `node` before bin/mesh.js. */
export async function spawnProxy(env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<ChildProxy> {
  const child = spawn(process.execPath, [...nodeArgs, 'bin/mesh.js', 'proxy'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MESH_LOG_LEVEL: 'info', ...env } });
  const exited = new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)));
  const listening = await new Promise<{ admin: { port: number }; inbound: { port: number } }>((resolve, reject) => {
    let partial = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string };
        if (entry.msg === 'proxy listening') resolve(entry as never);
      }
    });
    child.once('close', (code) => reject(new Error(`mesh proxy exited with ${code} before listening: ${stderr}`)));
  });
  return { child, adminPort: listening.admin.port, inboundPort: listening.inbound.port, exited };
}
