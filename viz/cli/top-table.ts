// `mesh viz top` as Linkerd's: the busiest calls with count, best, worst and last latency.
import type { TopRow } from '../tap/top.ts';
import { table } from './table.ts';
import { micros } from './tap-lines.ts';

export function topTable(rows: TopRow[]): string {
  return table<TopRow>([
    { header: 'Source', value: (r) => r.source },
    { header: 'Destination', value: (r) => r.destination },
    { header: 'Method', value: (r) => r.method },
    { header: 'Path', value: (r) => r.path },
    { header: 'Count', value: (r) => String(r.count), right: true },
    { header: 'Best', value: (r) => micros(r.bestUs), right: true },
    { header: 'Worst', value: (r) => micros(r.worstUs), right: true },
    { header: 'Last', value: (r) => micros(r.lastUs), right: true },
    { header: 'Success Rate', value: (r) => `${((r.successes / Math.max(r.count, 1)) * 100).toFixed(2)}%`, right: true },
  ], rows);
}
