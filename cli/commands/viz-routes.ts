// `mesh viz routes deploy/X [--to deploy/Y] | svc/X`: per-route success, rate and latency.
import { outputFormat } from '../../viz/cli/output.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';
import { printRows, ROWS_OPTIONS, VIZ_ADDR_USAGE, WINDOW_USAGE } from '../../viz/cli/rows-command.ts';
import { routesTable } from '../../viz/cli/routes-table.ts';
import type { RouteRow } from '../../viz/query/routes.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'per-route metrics of the calls to a deploy or svc (effective and actual with -o wide)';

const USAGE = `usage: mesh viz routes (deploy/NAME|svc/NAME) [options]

  -n, --namespace NS         the resource's namespace (default: the deployment's, if only one)
  --to RESOURCE              only NAME's calls to RESOURCE (deploy/Y or svc/Y), measured at NAME's outbound side
${WINDOW_USAGE}
  -o, --output FORMAT        wide (effective and actual) or json (default: a table)
${VIZ_ADDR_USAGE}`;

const OPTIONS = { ...ROWS_OPTIONS, to: { type: 'string' } } as const;

export function run(args: string[]): Promise<number> {
  return runCommand('viz routes', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, { positionals: { count: 1, expected: 'one resource (deploy/NAME or svc/NAME)' } });
    const format = outputFormat(values.output);
    resourceArg(positionals[0]!);
    if (values.to) resourceArg(values.to, '--to');
    return printRows<RouteRow>({
      command: 'viz routes',
      vizAddr: values['viz-addr'],
      path: '/api/v1/routes',
      query: { resource: positionals[0], namespace: values.namespace, to: values.to, window: values['time-window'] },
      format,
      none: 'No traffic found.',
      table: routesTable,
    });
  });
}
