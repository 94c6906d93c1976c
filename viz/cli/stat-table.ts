// `mesh viz stat` as a table, in Linkerd's columns (plus MTLS, the share of requests over mTLS).
import type { StatRow } from '../query/stat.ts';
import { bytesPerSec, ms, percent, rps, table, type Column } from './table.ts';

export function statTable(rows: StatRow[], opts: { wide: boolean; showNamespace: boolean }): string {
  const columns: Column<StatRow>[] = [];
  if (opts.showNamespace) columns.push({ header: 'NAMESPACE', value: (r) => r.namespace });
  columns.push(
    { header: 'NAME', value: (r) => r.name },
    { header: 'MESHED', value: (r) => (r.meshed ? `${r.meshed.ready}/${r.meshed.total}` : '-'), right: true },
    { header: 'SUCCESS', value: (r) => percent(r.success), right: true },
    { header: 'RPS', value: (r) => rps(r.rps, r.success !== null), right: true },
    { header: 'LATENCY_P50', value: (r) => ms(r.latencyMs?.p50), right: true },
    { header: 'LATENCY_P95', value: (r) => ms(r.latencyMs?.p95), right: true },
    { header: 'LATENCY_P99', value: (r) => ms(r.latencyMs?.p99), right: true },
    { header: 'TCP_CONN', value: (r) => (r.tcpConnections === null ? '-' : String(Math.round(r.tcpConnections))), right: true },
    { header: 'MTLS', value: (r) => (r.mtls === null ? '-' : `${Math.round(r.mtls * 100)}%`), right: true },
  );
  if (opts.wide) {
    columns.push(
      { header: 'READ_BYTES/SEC', value: (r) => bytesPerSec(r.readBytesPerSec), right: true },
      { header: 'WRITE_BYTES/SEC', value: (r) => bytesPerSec(r.writeBytesPerSec), right: true },
    );
  }
  return table(columns, rows);
}
