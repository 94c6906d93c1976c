// `mesh version`: prints the mesh's version, so a bug report can say which one ran.
import { meshVersion } from '../../api/locate.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'print the version of the mesh';

const USAGE = 'usage: mesh version';

export function run(args: string[]): Promise<number> {
  return runCommand('version', USAGE, async () => {
    parseCommandArgs(args, {});
    console.log(`mesh ${meshVersion()} (node ${process.version})`);
  });
}
