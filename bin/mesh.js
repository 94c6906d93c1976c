#!/usr/bin/env node
// The `mesh` command. Runs the TypeScript sources from an esbuild bundle, rebuilt whenever a
// source file changes, because loading them through tsx on Node 20 costs each process about
// 60 MB (a loader thread with its own V8 heap) - too much for a sidecar. MESH_NO_BUNDLE=1 runs
// the sources through tsx instead (slower start, more memory, same behaviour).
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['cli', 'proxy', 'identity', 'destination', 'injector', 'api', 'examples'];

/** A key over every source file's path, size and mtime: a new key means a rebuild. */
function sourceKey() {
  const hash = createHash('sha1');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (entry.name.endsWith('.ts')) {
        const st = statSync(path);
        hash.update(`${path}\0${st.size}\0${st.mtimeMs}\n`);
      }
    }
  };
  for (const dir of SOURCES) if (existsSync(join(root, dir))) walk(join(root, dir));
  return hash.digest('hex').slice(0, 16);
}

async function bundle() {
  const cache = join(root, 'node_modules', '.cache', 'mesh');
  const key = sourceKey();
  const out = join(cache, key);
  if (!existsSync(join(out, 'mesh.mjs'))) {
    const { build } = await import('esbuild');
    const tmp = `${out}.tmp-${process.pid}`;
    await build({
      entryPoints: { mesh: join(root, 'cli', 'mesh.ts') },
      outdir: tmp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      outExtension: { '.js': '.mjs' },
      sourcemap: 'inline',
      logLevel: 'error',
    });
    try {
      renameSync(tmp, out);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process built the same key first
    }
    // Keep the cache small: drop bundles of older sources, once no process can still be
    // loading their chunks (a running process imports some lazily).
    for (const old of readdirSync(cache)) {
      const path = join(cache, old);
      if (old !== key && Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
    }
  }
  return join(out, 'mesh.mjs');
}

if (process.env.MESH_NO_BUNDLE === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/mesh.ts');
} else {
  mkdirSync(join(root, 'node_modules', '.cache', 'mesh'), { recursive: true });
  if (!process.execArgv.includes('--enable-source-maps')) process.setSourceMapsEnabled(true);
  await import(pathToFileURL(await bundle()).href);
}
