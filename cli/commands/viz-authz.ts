// `mesh viz authz deploy/X`: per Server and authorization, the requests a deployment's proxies
// admitted and refused (refused ones as [UNAUTHORIZED], with the reason in -o wide).
import { outputFormat } from '../../viz/cli/output.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';
import { printRows, ROWS_OPTIONS } from '../../viz/cli/rows-command.ts';
import { rps, table } from '../../viz/cli/table.ts';
import { UNAUTHORIZED, type AuthzRow } from '../../viz/query/authz.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'requests a deploy or pod admitted and refused, per Server and authorization';

const USAGE = `usage: mesh viz authz (deploy|po)/NAME [options]

  -n, --namespace NS         the resource's namespace (default: its pods', if in one namespace)
  -t, --time-window WINDOW   10s to 10m (default 1m)
  -o, --output FORMAT        wide (adds why requests were refused) or json (default: a table)
  --viz-addr ADDR            the viz API (default: the running demo's, else 127.0.0.1:8085)`;

export function run(args: string[]): Promise<number> {
  return runCommand('viz authz', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, ROWS_OPTIONS, { positionals: { count: 1, expected: 'one resource (deploy/NAME or po/NAME)' } });
    const format = outputFormat(values.output);
    resourceArg(positionals[0]!);
    return printRows<AuthzRow>({
      command: 'viz authz',
      vizAddr: values['viz-addr'],
      path: '/api/v1/authz',
      query: { resource: positionals[0], namespace: values.namespace, window: values['time-window'] },
      format,
      none: 'No traffic found.',
      table: (rows, wide) =>
        table<AuthzRow>([
          { header: 'SERVER', value: (r) => r.server },
          { header: 'AUTHORIZATION', value: (r) => r.authorization ?? UNAUTHORIZED },
          { header: 'RPS', value: (r) => rps(r.rps), right: true },
          ...(wide ? [{ header: 'REASON', value: (r: AuthzRow) => r.reason ?? '-' }] : []),
        ], rows),
    });
  });
}
