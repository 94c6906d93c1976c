// `mesh version`: prints the mesh's version, so a bug report can say which one ran.
import { readFileSync } from 'node:fs';

export const summary = 'print the version of the mesh';

export async function run(): Promise<void> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  console.log(`mesh ${pkg.version} (node ${process.version})`);
}
