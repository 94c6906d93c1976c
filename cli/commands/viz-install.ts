// `mesh viz install`: the lesson's `linkerd viz install | kubectl apply -f -`. Here the viz is
// part of the control plane that `mesh install` prints, so this says so and prints only the viz's
// namespace, the same object `mesh install` made: piped into kubectl it changes nothing and fails
// nothing, where an empty input would make kubectl fail with "no objects passed to apply".
import { vizNamespace } from '../../install/control-plane.ts';
import { toYaml } from '../../install/render.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'nothing to add: mesh install already installs the viz (prints its namespace, for kubectl apply -f -)';

const USAGE = `usage: mesh viz install

The viz is part of the control plane here: mesh install already creates it (Deployment mesh-viz
in namespace mesh-viz, the API on 8085 and the dashboard on 8084), and npm start runs it beside the
demo. This prints only the viz's namespace, so "mesh viz install | kubectl apply -f -" changes
nothing. Then: mesh viz check.`;

const NOTE = 'mesh viz install: nothing to add: mesh install already installs the viz (Deployment mesh-viz in namespace mesh-viz), and npm start runs it beside the demo; printed only its namespace, which kubectl leaves unchanged. Next: mesh viz check';

export function run(args: string[]): Promise<number> {
  return runCommand('viz install', USAGE, async () => {
    const { values } = parseCommandArgs(args, { set: { type: 'string', multiple: true } });
    // Every --set is refused; the first one given is the one named.
    const assignment = values.set?.[0];
    if (assignment?.split('=')[0] === 'prometheusUrl') {
      throw new UsageError('--set prometheusUrl: the viz has no Prometheus of its own to replace; it scrapes every proxy itself. To read from yours instead: mesh viz serve --prometheus URL (and mesh viz prometheus-config prints the scrape configuration your Prometheus needs)');
    }
    if (assignment !== undefined) throw new UsageError(`--set ${assignment}: the viz takes no settings here; mesh install --set configures the whole control plane, the viz included`);
    process.stdout.write(toYaml([vizNamespace()]));
    console.error(NOTE);
    return 0;
  });
}
