// `mesh viz edges deploy|po`: who calls whom, with both identities and whether the hop is mTLS.
import { edgesTable } from '../../viz/cli/edges-table.ts';
import { resourceRowsCommand, VIZ_ADDR_USAGE, WINDOW_USAGE } from '../../viz/cli/rows-command.ts';
import type { EdgeRow } from '../../viz/query/edges.ts';

export const summary = 'who calls whom (deploy or po), with client and server identities and mTLS';

const USAGE = `usage: mesh viz edges (deploy|po) [options]

  -n, --namespace NS         only callers in this namespace (default: every namespace)
${WINDOW_USAGE}
  -o, --output FORMAT        wide (rates and identities) or json (default: a table)
${VIZ_ADDR_USAGE}`;

export const run = resourceRowsCommand<EdgeRow>({
  command: 'viz edges',
  usage: USAGE,
  expected: 'one resource kind (deploy or po)',
  path: '/api/v1/edges',
  none: 'No edges found.',
  table: edgesTable,
});
