// `mesh viz authz deploy/X`: per Server and authorization, the requests a deployment's proxies
// admitted and refused (refused ones as [UNAUTHORIZED], with the reason in -o wide).
import { resourceRowsCommand, VIZ_ADDR_USAGE, WINDOW_USAGE } from '../../viz/cli/rows-command.ts';
import { rps, table } from '../../viz/cli/table.ts';
import { UNAUTHORIZED, type AuthzRow } from '../../viz/query/authz.ts';

export const summary = 'requests a deploy or pod admitted and refused, per Server and authorization';

const USAGE = `usage: mesh viz authz (deploy|po)/NAME [options]

  -n, --namespace NS         the resource's namespace (default: its pods', if in one namespace)
${WINDOW_USAGE}
  -o, --output FORMAT        wide (adds why requests were refused) or json (default: a table)
${VIZ_ADDR_USAGE}`;

export const run = resourceRowsCommand<AuthzRow>({
  command: 'viz authz',
  usage: USAGE,
  expected: 'one resource (deploy/NAME or po/NAME)',
  path: '/api/v1/authz',
  none: 'No traffic found.',
  table: (rows, wide) =>
    table<AuthzRow>([
      { header: 'SERVER', value: (r) => r.server },
      { header: 'AUTHORIZATION', value: (r) => r.authorization ?? UNAUTHORIZED },
      { header: 'RPS', value: (r) => rps(r.rps), right: true },
      ...(wide ? [{ header: 'REASON', value: (r: AuthzRow) => r.reason ?? '-' }] : []),
    ], rows),
});
