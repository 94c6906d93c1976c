// `mesh version`: prints the mesh's version, so a bug report can say which one ran.
import { meshVersion } from '../../api/locate.ts';

export const summary = 'print the version of the mesh';

export async function run(): Promise<void> {
  console.log(`mesh ${meshVersion()} (node ${process.version})`);
}
