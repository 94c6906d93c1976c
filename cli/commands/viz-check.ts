// `mesh viz check`: Linkerd's `linkerd viz check` for the demo: the viz is found and answers.
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';
import { vizCategory } from '../check/viz.ts';
import { demoCategory } from '../check/demo-category.ts';
import { report } from '../check/report.ts';
import type { FoundDemo } from '../find-demo.ts';

export const summary = 'check the viz of the running demo (reachable, answering)';

const USAGE = `usage: mesh viz check [-o table|json] [--state DIR]
  -o FORMAT       table (default, Linkerd's) or json
  --state DIR     the demo's state folder (default $MESH_STATE_DIR, else the nearest .mesh-state/ above the working directory, else the project's)

Exit status 1 when any check fails (×).`;

export function run(args: string[]): Promise<number> {
  return runCommand('viz check', USAGE, async () => {
    const { values } = parseCommandArgs(args, { output: { type: 'string', short: 'o', default: 'table' }, state: { type: 'string' }, namespace: { type: 'string', short: 'n' } });
    if (values.output !== 'table' && values.output !== 'json') throw new UsageError(`-o must be "table" or "json", got "${values.output}"`);
    let demo: FoundDemo | undefined;
    return report(values.output, [demoCategory(values.state, (d) => (demo = d))], () => [vizCategory(demo!)]);
  });
}
