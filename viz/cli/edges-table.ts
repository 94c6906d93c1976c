// `mesh viz edges` as Linkerd prints it: SRC DST SRC_NS DST_NS SECURED; -o wide adds the identities.
import type { EdgeRow } from '../query/edges.ts';
import { percent, rps, table, type Column } from './table.ts';

export function edgesTable(rows: EdgeRow[], wide: boolean): string {
  const columns: Column<EdgeRow>[] = [
    { header: 'SRC', value: (r) => r.src },
    { header: 'DST', value: (r) => r.dst },
    { header: 'SRC_NS', value: (r) => r.srcNamespace },
    { header: 'DST_NS', value: (r) => r.dstNamespace },
    { header: 'SECURED', value: (r) => (r.secured ? '√' : '×') },
  ];
  if (wide) {
    columns.push(
      { header: 'RPS', value: (r) => rps(r.rps), right: true },
      { header: 'SUCCESS', value: (r) => percent(r.success), right: true },
      { header: 'CLIENT_ID', value: (r) => r.clientId || '-' },
      { header: 'SERVER_ID', value: (r) => r.serverId || '-' },
      { header: 'MSG', value: (r) => r.message || '-' },
    );
  }
  return table(columns, rows);
}
