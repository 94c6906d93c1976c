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

// The sidecar (`mesh proxy`) trades a little GC work for memory, set here because a flag set
// inside the process needs no re-exec (no second process, and the pid stays the proxy's):
// - V8 lets the old generation grow to about 4x the live heap before a full GC; under load the
//   proxy promotes short-lived request objects fast, so RSS climbed to ~190 MB over a ~20 MB
//   live heap. A 20% growing factor held it at 117-124 MB, no measurable throughput cost (full
//   GCs of a 20 MB heap take ~7 ms; `--max-old-space-size=64` instead cost 35% CPU per request).
//   V8 reads this flag at every heap-limit computation, so setting it at runtime takes effect.
// - New space (the young generation) keeps its first size (1 MB semi-spaces) instead of
//   doubling whenever enough objects survive scavenges: start-up alone (loading and compiling
//   the modules) grew it to 8-10 MB, which an idle proxy then kept. Idle RSS 71-78 -> 66-67 MB,
//   and under load (bench/NOTES.md, round 2, HTTP/2 and memory).
// - WebAssembly is compiled by V8's baseline compiler (Liftoff) only. undici parses HTTP/1 with
//   llhttp built to wasm; V8 recompiled its one large parser function with its optimizing compiler
//   on the first response, which took ~35 MB for a moment: every proxy's peak RSS (VmHWM) jumped
//   from ~70 to ~105 MB on its first request, idle or not. Liftoff's code parses ~2 us per
//   response slower in a loop that does nothing else (bench/NOTES.md, round 3).
// - No optimizing compiler (TurboFan) until the proxy has started: loading its ~150 CommonJS files
//   made V8 optimize some 30 functions of Node's module loader, cjs-module-lexer and protobufjs's
//   parser that never run again, which left ~4 MB in every idle proxy (the compiler's code pages,
//   and its freed working memory that glibc keeps). Once `mesh proxy` says it has started
//   (cli/commands/proxy.ts, listeners bound), V8 optimizes as usual: the request path is not
//   affected (bench/NOTES.md, round 4, memory).
// - Scavenges (young-generation GCs, ~19 a second per proxy at 1,000 req/s) run on the main
//   thread alone, without V8's helper threads: a 1 MB young generation leaves them little to
//   share, and on a small machine with busy cores the main thread waited for helpers that had lost
//   their core. Paced at 1,000 req/s on two loaded cores, scavenges took half the time, their
//   worst pause fell from 9-81 to 1.4-9 ms, and the mesh's p99 was lower in 8 runs of 10 (p50
//   in 8); saturated, over 4 runs, throughput moved -18% to +22% (median -7%) and CPU per request
//   -8% to +11% (median +4%); on quiet cores, in ../shared/peer-bench, it cost ~10% of CPU per
//   request saturated and showed no latency change (3 pairs). A gain for the tail on busy cores,
//   where sidecars run, for a price at saturation (bench/NOTES.md, round 5, latency);
//   `node --parallel-scavenge bin/mesh.js proxy` pays the other way. V8 reads the flag at each
//   scavenge, so setting it here takes effect.
// - Node's source maps stay off (they cached every dependency's map: ~20 MB of RSS); stack
//   traces then name bundle lines. `node --enable-source-maps bin/mesh.js proxy` turns them on.
const isProxy = process.argv[2] === 'proxy';
/** What `mesh proxy` emits on `process` once it has started (cli/commands/proxy.ts). */
const PROXY_STARTED = 'mesh:proxy-started';
// A value given on the command line (`node --heap-growing-percent=N bin/mesh.js proxy`) wins.
if (isProxy && !process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) {
  setFlagsFromString('--heap-growing-percent=20');
}
if (isProxy && !process.execArgv.some((arg) => arg.startsWith('--semi-space-growth-factor'))) {
  setFlagsFromString('--semi-space-growth-factor=1');
}
if (isProxy && !process.execArgv.some((arg) => /^--(no-)?parallel-scavenge$/.test(arg))) {
  setFlagsFromString('--no-parallel-scavenge');
}
if (isProxy && !process.execArgv.some((arg) => /^--(no-)?liftoff/.test(arg))) {
  setFlagsFromString('--liftoff-only');
}
if (isProxy && !process.execArgv.some((arg) => /^--(no-)?opt$/.test(arg))) {
  setFlagsFromString('--no-opt');
  process.once(PROXY_STARTED, () => setFlagsFromString('--opt'));
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
  if (!isProxy && !process.execArgv.includes('--enable-source-maps')) process.setSourceMapsEnabled(true);
  await import(pathToFileURL(await bundle()).href);
}
