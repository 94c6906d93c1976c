#!/usr/bin/env node
// The `mesh` command. Runs the TypeScript sources from an esbuild bundle, rebuilt whenever a
// source file changes, because loading them through tsx on Node 20 costs each process about
// 60 MB (a loader thread with its own V8 heap) - too much for a sidecar. MESH_NO_BUNDLE=1 runs
// the sources through tsx instead (slower start, more memory, same behaviour).
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { applyProxyV8Flags } from './proxy-v8-flags.js';
import { optimizeWhenBusy } from './optimize-when-busy.js';

// A sidecar (`mesh proxy`) runs with V8 settings that trade a little GC work for memory
// (bin/proxy-v8-flags.js says each and why; a flag on the command line wins), and:
// - No optimizing compiler (TurboFan) until the proxy has started and then been busy for a while:
//   loading its ~150 CommonJS files made V8 optimize some 30 functions of Node's module loader,
//   cjs-module-lexer and protobufjs's parser that never run again, which left ~4 MB in every idle
//   proxy (the compiler's code pages, and its freed working memory that glibc keeps); and an idle
//   proxy that had started optimized a few more (protobufjs's parser at the first lookup), which
//   was enough to bring the compiler's ~3.7 MB back. Once `mesh proxy` says it has started
//   (cli/commands/proxy.ts, listeners bound), bin/optimize-when-busy.js turns the compiler on the
//   first time it is busy two seconds in a row (50 requests begun in each, or its event loop at
//   work half of each); V8 then optimizes the request path as before (bench/NOTES.md, round 4,
//   memory, and round 7, idle memory).
// - No WebAssembly: `WebAssembly` is taken off the global object, as `--no-expose-wasm` does (a
//   flag V8 reads only when it makes a context). The proxy runs none of its own; the one module it
//   compiled was `long`'s (protobufjs's 64-bit integers, which the proxy reads as numbers), a
//   64-bit multiply helper that `long` replaces with JavaScript when there is no WebAssembly.
//   Compiling it brought V8's WebAssembly engine into every proxy: ~0.8 MB of the binary's pages
//   (bench/NOTES.md, round 7). `node --expose-wasm bin/mesh.js proxy` keeps it.
// - Node's source maps stay off (they cached every dependency's map: ~20 MB of RSS); stack
//   traces then name bundle lines. `node --enable-source-maps bin/mesh.js proxy` turns them on.
const isProxy = process.argv[2] === 'proxy';
/** What `mesh proxy` emits on `process` once it has started (cli/commands/proxy.ts). */
const PROXY_STARTED = 'mesh:proxy-started';
if (isProxy) applyProxyV8Flags(process.execArgv);
if (isProxy && !process.execArgv.some((arg) => /^--(no-)?expose[-_]wasm$/.test(arg))) delete globalThis.WebAssembly;
if (isProxy && !process.execArgv.some((arg) => /^--(no-)?opt$/.test(arg))) {
  setFlagsFromString('--no-opt');
  process.once(PROXY_STARTED, optimizeWhenBusy);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['cli', 'proxy', 'proxy-init', 'identity', 'destination', 'injector', 'install', 'api', 'examples', 'viz'];

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
  // This file holds the build recipe: a changed recipe is a rebuild too.
  const self = statSync(fileURLToPath(import.meta.url));
  hash.update(`recipe\0${self.size}\0${self.mtimeMs}\n`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Where bundles are kept, one folder per source key: under node_modules, so that the bundle's
 * imports of packages resolve. MESH_BUNDLE_CACHE names another folder there (tests that must see
 * a build happen).
 */
const cache = join(root, 'node_modules', '.cache', process.env.MESH_BUNDLE_CACHE || 'mesh');

async function bundle() {
  const key = sourceKey();
  const out = join(cache, key);
  if (!existsSync(join(out, 'mesh.mjs')) && isProxy) {
    // A sidecar has the bundle built by a process of its own: esbuild's service (a Go process of
    // ~12 MB) stays beside whichever process loads esbuild, as long as that process lives.
    // (Imported here: loaded with this file's imports, before a proxy's V8 settings, its
    // compilation alone scavenged with helper threads.)
    const { spawnSync } = await import('node:child_process');
    const built = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, MESH_BUILD_ONLY: '1' }, stdio: ['ignore', 'inherit', 'inherit'] });
    if (built.status !== 0) {
      // The build has said what went wrong (its stderr is ours): one line more, not a stack trace
      // of this process waiting for it, and the build's exit code.
      const how = built.error ? built.error.message : built.signal ? `killed by ${built.signal}` : `exit code ${built.status}`;
      process.stderr.write(`mesh: building the bundle of the sources in ${out} failed (${how}); the build's output is above\n`);
      process.exit(built.status || 1);
    }
  }
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
      // Linked, not inline: an inline map is part of the module's source text, which V8 keeps
      // in memory for lazy compilation, in every process, whether source maps are on or not.
      sourcemap: 'linked',
      logLevel: 'error',
    });
    try {
      renameSync(tmp, out);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process built the same key first
    }
    // Keep the cache small: drop bundles of older sources, once no process can still be
    // loading their chunks (a running process imports some lazily).
    // Another process may drop the same one between the listing and its stat: gone is as good.
    for (const old of readdirSync(cache)) {
      const path = join(cache, old);
      const st = statSync(path, { throwIfNoEntry: false });
      if (old !== key && st !== undefined && Date.now() - st.mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
    }
  }
  return join(out, 'mesh.mjs');
}

if (process.env.MESH_NO_BUNDLE === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/mesh.ts');
} else if (process.env.MESH_BUILD_ONLY === '1') {
  // The build a starting sidecar asked for (above), and nothing else.
  mkdirSync(cache, { recursive: true });
  await bundle();
} else {
  mkdirSync(cache, { recursive: true });
  if (!isProxy && !process.execArgv.includes('--enable-source-maps')) process.setSourceMapsEnabled(true);
  await import(pathToFileURL(await bundle()).href);
}
