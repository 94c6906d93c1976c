// `mesh viz edges deploy|po`: who calls whom, with both identities and whether the hop is mTLS.
import { edgesTable } from '../../viz/cli/edges-table.ts';
import { resourceRowsCommand } from '../../viz/cli/rows-command.ts';
import type { EdgeRow } from '../../viz/query/edges.ts';

export const summary = 'who calls whom (deploy or po), with client and server identities and mTLS';

const USAGE = `usage: mesh viz edges (deploy|po) [options]

  -n, --namespace NS         only callers in this namespace (default: every namespace)
  -t, --time-window WINDOW   10s to 10m (default 1m)
  -o, --output FORMAT        wide (rates and identities) or json (default: a table)
  --viz-addr ADDR            the viz API (default: the running demo's, else 127.0.0.1:8085)`;

export const run = resourceRowsCommand<EdgeRow>({
  command: 'viz edges',
  usage: USAGE,
  expected: 'one resource kind (deploy or po)',
  path: '/api/v1/edges',
  none: 'No edges found.',
  table: edgesTable,
});
