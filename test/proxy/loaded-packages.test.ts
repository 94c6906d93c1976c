// What a running sidecar loads, as the demo runs it (a CA identity, a destination, its pod registered):
// of the mesh's own dependencies, exactly the list bench/import-cost.ts measures (bench/proxy-packages.ts);
// not @grpc/grpc-js, @grpc/proto-loader, node-forge or undici, whose memory every idle proxy would
// carry (its control-plane calls go through proxy/grpc/ on node:http2, its CSR through
// identity/csr.ts, its HTTP/1 to endpoints through outbound/endpoint/http1-pool.ts); and no
// `WebAssembly` (bin/mesh.js takes it away: `long`'s helper module started V8's wasm engine),
// unless `node --expose-wasm` asks for it.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROXY_PACKAGES } from '../../bench/proxy-packages.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { controlPlane, spawnProxy, type ChildProxy, type ControlPlane } from '../helpers/control-plane.ts';

const NET = await addressBlock();
const OWN = Object.keys((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
const PRELOAD = new URL('./fixtures/report-loaded-packages.cjs', import.meta.url).pathname;

let cp: ControlPlane;
const proxies: ChildProxy[] = [];

beforeAll(async () => {
  cp = await controlPlane({ fixtures: ['lesson'] });
  await cp.startIdentity(`${NET}.50:0`);
  await cp.startDestination(`${NET}.50:0`);
}, 30_000);

afterAll(async () => {
  for (const proxy of proxies) {
    if (proxy.child.exitCode !== null) continue;
    proxy.child.kill('SIGTERM');
    await proxy.exited;
  }
  await cp?.close();
});

/** Starts a proxy on `${NET}.host` (`nodeArgs` before bin/mesh.js) and reads what it had loaded once started. */
async function loadedBy(host: number, nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<{ packages: string[]; webAssembly: string; pid: number }> {
  const report = join(cp.dir, `loaded-${host}.json`);
  proxies.push(await spawnProxy({
    ...env,
    NODE_OPTIONS: `--require ${PRELOAD}`, MESH_TEST_LOADED_FILE: report,
    MESH_POD_IP: `${NET}.${host}`, MESH_PROXY_OUTBOUND_PORT: '0', MESH_PROXY_INBOUND_PORT: '0', MESH_PROXY_ADMIN_PORT: '0', MESH_PROXY_TAP_PORT: '0',
    MESH_POD_NAME: 'checkout-1', MESH_POD_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'checkout',
    MESH_POD_LABELS: 'app=checkout', MESH_POD_PORTS: 'http:8080',
    MESH_IDENTITY: 'spiffe://cluster.local/ns/production/sa/checkout',
    MESH_IDENTITY_ADDR: cp.identity!.addr, MESH_DESTINATION_ADDR: cp.destination!.address,
    MESH_TRUST_ANCHORS: cp.anchorsFile, MESH_TOKEN_FILE: cp.tokenFile('production', 'checkout'),
  }, nodeArgs));
  await expect.poll(() => existsSync(report), { timeout: 15_000 }).toBe(true);
  return { ...(JSON.parse(readFileSync(report, 'utf8')) as { packages: string[]; webAssembly: string }), pid: proxies.at(-1)!.child.pid! };
}

/** The pids of a process's children, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}

it('a started proxy has loaded protobufjs, and none of undici, grpc-js, proto-loader, node-forge; it has no WebAssembly', async () => {
  const { packages: loaded, webAssembly } = await loadedBy(51);
  expect(loaded).toContain('protobufjs');
  // protobufjs's `long` is still there (without WebAssembly it multiplies in JavaScript).
  expect(loaded).toContain('long');
  expect(webAssembly).toBe('undefined');
  expect(loaded.filter((p) => ['undici', '@grpc/grpc-js', '@grpc/proto-loader', 'node-forge'].includes(p))).toEqual([]);
  // Of the mesh's own dependencies, exactly those bench/import-cost.ts measures.
  expect(loaded.filter((p) => OWN.includes(p))).toEqual([...PROXY_PACKAGES].sort());
}, 30_000);

it('a proxy that finds no bundle of the current sources has it built by another process: no esbuild in it, none beside it', async () => {
  const cacheName = `mesh-test-${process.pid}`;
  const cacheDir = new URL(`../../node_modules/.cache/${cacheName}`, import.meta.url).pathname;
  try {
    const { packages: loaded, pid } = await loadedBy(53, [], { MESH_BUNDLE_CACHE: cacheName });
    expect(readdirSync(cacheDir)).toHaveLength(1); // the bundle it had to build
    expect(loaded.filter((p) => OWN.includes(p))).toEqual([...PROXY_PACKAGES].sort());
    // esbuild's service would be a child of the process that loaded it.
    expect(childrenOf(pid)).toEqual([]);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}, 60_000);

it('`node --expose-wasm bin/mesh.js proxy` keeps WebAssembly, as bin/mesh.js says an operator can', async () => {
  const { webAssembly } = await loadedBy(52, ['--expose-wasm']);
  expect(webAssembly).toBe('object');
}, 30_000);
