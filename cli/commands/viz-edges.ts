// `mesh viz edges deploy|po`: who calls whom, with both identities and whether the hop is mTLS.
import { edgesTable } from '../../viz/cli/edges-table.ts';
import { outputFormat } from '../../viz/cli/output.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';
import { printRows, ROWS_OPTIONS } from '../../viz/cli/rows-command.ts';
import type { EdgeRow } from '../../viz/query/edges.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'who calls whom (deploy or po), with client and server identities and mTLS';

const USAGE = `usage: mesh viz edges (deploy|po) [options]

  -n, --namespace NS         only callers in this namespace (default: every namespace)
  -t, --time-window WINDOW   10s to 10m (default 1m)
  -o, --output FORMAT        wide (rates and identities) or json (default: a table)
  --viz-addr ADDR            the viz API (default: the running demo's, else 127.0.0.1:8085)`;

export function run(args: string[]): Promise<number> {
  return runCommand('viz edges', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, ROWS_OPTIONS, { positionals: { count: 1, expected: 'one resource kind (deploy or po)' } });
    const format = outputFormat(values.output);
    resourceArg(positionals[0]!);
    return printRows<EdgeRow>({
      command: 'viz edges',
      vizAddr: values['viz-addr'],
      path: '/api/v1/edges',
      query: { resource: positionals[0], namespace: values.namespace, window: values['time-window'] },
      format,
      none: 'No edges found.',
      table: edgesTable,
    });
  });
}
