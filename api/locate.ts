// Finds the files that ship beside the code (protos, package.json) from wherever the code runs:
// the TypeScript sources through tsx, or the esbuild bundle that bin/mesh.js builds.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mesh') return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the mesh project (package.json named "mesh") above ${start}`);
  }
}

/** The folder holding the project's package.json. */
export const projectRoot: string = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of `api/<name>.proto`. */
export function protoPath(name: 'identity' | 'destination' | 'tap'): string {
  return join(projectRoot, 'api', `${name}.proto`);
}

/** The version in package.json. */
export function meshVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
}
