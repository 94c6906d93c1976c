// `--proxy-build bundle`: runs the proxies from one esbuild bundle instead of through tsx, to show
// what the TypeScript loader costs. (tsx on Node 20 loads modules through a hooks thread with its
// own V8 heap: about 30 MB of RSS per process, measured here.) The default stays
// `node bin/mesh.js proxy`, what users run.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = new URL('..', import.meta.url).pathname;

/** Builds the `mesh proxy` command into `dir/mesh-proxy.mjs`; returns the node arguments that run it. */
export function buildProxyBundle(dir: string): string[] {
  const entry = join(dir, 'mesh-proxy-entry.ts');
  const out = join(dir, 'mesh-proxy.mjs');
  writeFileSync(entry, `import { run } from ${JSON.stringify(join(REPO, 'cli/commands/proxy.ts'))};\nprocess.exitCode = await run(process.argv.slice(2));\n`);
  // esbuild comes with tsx; CommonJS packages inside an ESM bundle need a `require`.
  execFileSync(join(REPO, 'node_modules/.bin/esbuild'), [
    entry, '--bundle', '--platform=node', '--format=esm', '--target=node20', `--outfile=${out}`, '--log-level=warning',
    "--banner:js=import { createRequire as __meshRequire } from 'node:module'; const require = __meshRequire(import.meta.url);",
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
  return [out];
}
