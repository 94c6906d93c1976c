// `mesh proxy` keeps V8's optimizing compiler off while it starts and while it stays idle, and
// turns it on once it is busy (bin/mesh.js and bin/optimize-when-busy.js, from cli/commands/proxy.ts's
// `mesh:proxy-started` on): real proxy processes run with V8's `--trace-opt`, which prints each
// function it optimizes to standard output, beside the proxy's JSON log lines. Nothing is optimized
// before "proxy listening" (the end of start-up), nor by a proxy that carries a few requests a
// second (whose first lookups parse the destination API: protobufjs's parser is what an idle proxy
// optimized before); under steady traffic, functions of the proxy's own request path are; and a
// tunnel's bytes alone, which begin no request, turn it on by keeping the event loop at work.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTcp, type AddressInfo, type Socket } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../helpers/apps.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { openTunnel } from '../helpers/connect-tunnel.ts';
import { controlPlane, proxyArgs, startPodApp, type ControlPlane, type PodApp } from '../helpers/control-plane.ts';
import { startAppBehindTwoProxies, startTwoProxies, trafficRound, type AppBehindProxies, type ProxyHandle, type TwoProxies } from '../helpers/two-proxies.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';
const REPO = new URL('../..', import.meta.url).pathname;
/** What `--trace-opt` prints when a function has been optimized, with the function's name. */
const OPTIMIZED = /\[completed optimizing 0x[0-9a-f]+ <JSFunction ([^ >]+)/g;
/**
 * Functions of the request path, in the proxy's own files: the HTTP/1 edge's head parser (both
 * proxies, proxy/http/http1-head.ts) and the metrics layer's count of each response (both,
 * proxy/metrics/request-layer.ts). Each runs once or more per request.
 */
const REQUEST_PATH = ['readHttp1Head', 'recordResponse'];

let mesh: AppBehindProxies<Awaited<ReturnType<typeof startHttp1App>>>;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { mode: 'process', clientIp: `${NET}.1`, serverIp: `${NET}.2`, authority: AUTHORITY, nodeArgs: ['--trace-opt'] });
}, 60_000);

afterAll(async () => {
  await mesh?.close();
});

/** The names of the functions `proxy` has optimized so far, by its trace. */
function optimized(proxy: ProxyHandle): string[] {
  return [...proxy.stdout!().matchAll(OPTIMIZED)].map((m) => m[1]!);
}

describe('the optimizing compiler of `mesh proxy`', () => {
  it('is off until start-up ends: no function is optimized before the proxy says it is listening', () => {
    for (const proxy of [mesh.outbound, mesh.inbound]) {
      const out = proxy.stdout!();
      const listening = out.indexOf('"msg":"proxy listening"');
      expect(listening).toBeGreaterThan(0);
      // The trace names its tier: with the compiler on during start-up, some 15-30 functions of the
      // module loader and of protobufjs's parser show up here.
      expect(out.slice(0, listening)).not.toMatch(/TURBOFAN|MAGLEV/);
    }
  });

  it("is on once the proxy is busy: under steady traffic, functions of both proxies' request path are optimized", async () => {
    const pool = new Pool(mesh.proxyUrl, { connections: 4 });
    try {
      // Rounds of requests until both proxies report a request-path function optimized: how many
      // requests V8 waits for depends on the machine's load, so the test waits for the trace, not a
      // count. Either of the two will do: once the compiler comes on, every hot function is up for
      // optimization at once, and a small one may be inlined into its caller's optimized code
      // (then the trace names only the caller).
      await expect.poll(async () => {
        await trafficRound(pool, AUTHORITY);
        return [mesh.outbound, mesh.inbound].map((proxy) => REQUEST_PATH.some((name) => optimized(proxy).includes(name)));
      }, { timeout: 90_000, interval: 0 }).toEqual([true, true]);
    } finally {
      await pool.close();
    }
  }, 120_000);
});

describe('the optimizing compiler of an idle `mesh proxy`', () => {
  let cp: ControlPlane;
  let app: PodApp;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    cp = await controlPlane({ fixtures: ['lesson'] });
    await cp.startIdentity(`${NET}.20:0`);
    await cp.startDestination(`${NET}.20:0`);
    app = await startPodApp(`${NET}.21`, 8080, 'checkout-1');
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('close', r));
    }
    await app?.close();
    await cp?.close();
  });

  it('stays off while the proxy carries a few requests a second: its discovery lookups and its answers optimize nothing', async () => {
    const args = proxyArgs(cp, { name: 'checkout-1', serviceAccount: 'checkout', ip: `${NET}.21`, labels: { app: 'checkout' }, ports: ['8080'] });
    child = spawn(process.execPath, ['--trace-opt', 'bin/mesh.js', 'proxy', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MESH_LOG_LEVEL: 'info' } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await expect.poll(() => out.includes('"msg":"proxy listening"'), { timeout: 30_000 }).toBe(true);
    const listening = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"proxy listening"'))!) as { outbound: { port: number } };
    const pool = new Pool(`http://${NET}.21:${listening.outbound.port}`, { connections: 1 });
    try {
      // Five requests a second for three seconds, to a Service the destination knows (this pod is
      // its endpoint): lookups, mTLS to its own inbound, the app's answers.
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const res = await pool.request({ path: '/', method: 'GET', headers: { host: 'checkout.production.svc.cluster.local:8080' } });
        await res.body.text();
        statuses.push(res.statusCode);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(10);
      // A few of the proxy's one-second windows more, quiet.
      await new Promise((r) => setTimeout(r, 3000));
      const after = out.slice(out.indexOf('"msg":"proxy listening"'));
      expect([...after.matchAll(OPTIMIZED)].map((m) => m[1])).toEqual([]);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('the optimizing compiler of a `mesh proxy` that carries a tunnel', () => {
  const DB = 'db.test.svc.cluster.local:5432';
  let tunnelMesh: TwoProxies;
  let client: Socket | undefined;

  beforeAll(async () => {
    // The database stand-in reads and drops whatever arrives.
    const sink = createTcp((s) => s.on('error', () => {}).resume());
    await new Promise<void>((r) => sink.listen(0, `${NET}.31`, r));
    tunnelMesh = await startTwoProxies({
      mode: 'process',
      clientIp: `${NET}.30`,
      serverIp: `${NET}.31`,
      services: [{ authority: DB, port: (sink.address() as AddressInfo).port }],
      apps: [{ close: () => new Promise((r) => sink.close(r)) }],
      nodeArgs: ['--trace-opt'],
    });
  }, 60_000);

  afterAll(async () => {
    client?.destroy();
    await tunnelMesh?.close();
  });

  it("is on once a tunnel's bytes keep the event loop at work, though they begin no request", async () => {
    const tunnel = await openTunnel(tunnelMesh.outbound.port, tunnelMesh.outbound.host, DB);
    const socket = (client = tunnel.socket);
    expect(tunnel.head).toMatch(/^HTTP\/1.1 200/);
    // Opaque bytes (a leading zero is no protocol the outbound detects), as fast as the tunnel takes
    // them, until both proxies have optimized something: one CONNECT is all the requests there are,
    // far under the 50 a second that count as busy, so only the event loop's use can turn it on.
    const chunk = Buffer.alloc(64 * 1024, 7);
    chunk[0] = 0;
    let writing = true;
    const pump = () => {
      while (writing && socket.write(chunk));
      if (writing) socket.once('drain', pump);
    };
    pump();
    const sinceListening = (proxy: ProxyHandle) => {
      const out = proxy.stdout!();
      return [...out.slice(out.indexOf('"msg":"proxy listening"')).matchAll(OPTIMIZED)].length;
    };
    try {
      await expect.poll(() => [tunnelMesh.outbound, tunnelMesh.inbound].map((proxy) => sinceListening(proxy) > 0), { timeout: 60_000, interval: 250 }).toEqual([true, true]);
    } finally {
      writing = false;
    }
  }, 90_000);
});

describe('`node --opt bin/mesh.js proxy`', () => {
  it('keeps the compiler on from the start: a flag on the command line wins over the proxy\'s own choice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opt-flag-'));
    const endpoints = join(dir, 'endpoints.yaml');
    writeFileSync(endpoints, ''); // development mode with no resources: enough to start
    const args = ['--pod-ip', `${NET}.40`, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0', '--tap-port', '0', '--endpoints-file', endpoints];
    const proxy = spawn(process.execPath, ['--opt', '--trace-opt', 'bin/mesh.js', 'proxy', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MESH_LOG_LEVEL: 'info' } });
    let out = '';
    proxy.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out.includes('"msg":"proxy listening"'), { timeout: 30_000 }).toBe(true);
      // With the proxy's own choice the trace is empty up to here (the first test above).
      expect(out.slice(0, out.indexOf('"msg":"proxy listening"'))).toMatch(/TURBOFAN|MAGLEV/);
    } finally {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('close', r));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
