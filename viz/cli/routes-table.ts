// `mesh viz routes` as Linkerd prints it: ROUTE SERVICE SUCCESS RPS LATENCY_*; -o wide shows
// effective (each request once) and actual (every attempt, retries included) side by side.
import type { RouteRow } from '../query/routes.ts';
import { ms, percent, rps, table, type Column } from './table.ts';

const serviceOf = (authority: string) => authority.replace(/:\d+$/, '').split('.')[0]!;

export function routesTable(rows: RouteRow[], wide: boolean): string {
  const columns: Column<RouteRow>[] = [
    { header: 'ROUTE', value: (r) => r.route },
    { header: 'SERVICE', value: (r) => serviceOf(r.authority) },
  ];
  if (wide) {
    columns.push(
      { header: 'EFFECTIVE_SUCCESS', value: (r) => percent(r.effective.success), right: true },
      { header: 'EFFECTIVE_RPS', value: (r) => rps(r.effective.rps, r.effective.success !== null), right: true },
      { header: 'ACTUAL_SUCCESS', value: (r) => percent(r.actual.success), right: true },
      { header: 'ACTUAL_RPS', value: (r) => rps(r.actual.rps, r.actual.success !== null), right: true },
    );
  } else {
    columns.push(
      { header: 'SUCCESS', value: (r) => percent(r.effective.success), right: true },
      { header: 'RPS', value: (r) => rps(r.effective.rps, r.effective.success !== null), right: true },
    );
  }
  columns.push(
    { header: 'LATENCY_P50', value: (r) => ms(r.latencyMs?.p50), right: true },
    { header: 'LATENCY_P95', value: (r) => ms(r.latencyMs?.p95), right: true },
    { header: 'LATENCY_P99', value: (r) => ms(r.latencyMs?.p99), right: true },
  );
  return table(columns, rows);
}
