// A sidecar that finds no bundle of the current sources has it built by a process of its own
// (bin/mesh.js, MESH_BUILD_ONLY). When that build fails, the operator reads the build's own
// output, then one line saying the proxy could not start for it, and the exit code is the build's.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runMesh } from './run-mesh.ts';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'mesh-bundle-build-'));
const caches: string[] = [];

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const name of caches) rmSync(join(ROOT, 'node_modules', '.cache', name), { recursive: true, force: true });
});

/** Runs `mesh proxy` with no bundle at hand, its build process replaced by `build` (a preload that runs only there). */
function proxyWhoseBuild(name: string, build: string): ReturnType<typeof runMesh> {
  const preload = join(dir, `${name}.cjs`);
  writeFileSync(preload, `if (process.env.MESH_BUILD_ONLY === '1') { ${build} }\n`);
  const cache = `mesh-test-build-${name}-${process.pid}`;
  caches.push(cache);
  return runMesh(['proxy'], { env: { NODE_OPTIONS: `--require ${preload}`, MESH_BUNDLE_CACHE: cache } });
}

it('a sidecar whose bundle build fails exits with the build\'s code, after the build\'s own output and one line of its own', async () => {
  const { code, out, err } = await proxyWhoseBuild('exits', `process.stderr.write('proxy/x.ts:1:1: ERROR: Unexpected "="\\n'); process.exit(3);`);
  expect(code).toBe(3);
  expect(out).toBe('');
  const cache = join(ROOT, 'node_modules', '.cache', `mesh-test-build-exits-${process.pid}`);
  expect(err).toMatch(new RegExp(`^proxy/x\\.ts:1:1: ERROR: Unexpected "="\\nmesh: building the bundle of the sources in ${cache}/[0-9a-f]{16} failed \\(exit code 3\\); the build's output is above\\n$`));
});

it('a sidecar whose bundle build is killed says by what, and exits 1', async () => {
  const { code, out, err } = await proxyWhoseBuild('killed', `process.kill(process.pid, 'SIGKILL');`);
  expect(code).toBe(1);
  expect(out).toBe('');
  expect(err).toMatch(/^mesh: building the bundle of the sources in \S+ failed \(killed by SIGKILL\); the build's output is above\n$/);
});

it('a build goes on when an old bundle it would drop has gone meanwhile (another process dropped it first)', async () => {
  const name = `mesh-test-build-vanished-${process.pid}`;
  caches.push(name);
  const cache = join(ROOT, 'node_modules', '.cache', name);
  mkdirSync(cache, { recursive: true });
  // Listed, but gone when read: what a second process's clean-up leaves between the two.
  symlinkSync(join(cache, 'nothing-here'), join(cache, '0123456789abcdef'));
  const { code, err } = await runMesh(['--help'], { env: { MESH_BUNDLE_CACHE: name } });
  expect(err).toBe('');
  expect(code).toBe(0);
  expect(readdirSync(cache).filter((entry) => /^[0-9a-f]{16}$/.test(entry))).toHaveLength(2);
});
