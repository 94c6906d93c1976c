// Tables as `linkerd viz` prints them: a header of upper-case names, columns padded with three
// spaces, text left-aligned, numbers right-aligned.

export interface Column<R> {
  header: string;
  value(row: R): string;
  /** Numbers line up on the right. */
  right?: boolean;
}

export function table<R>(columns: Column<R>[], rows: R[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** `100.00%`, or `-` without traffic. */
export const percent = (share: number | null): string => (share === null ? '-' : `${(share * 100).toFixed(2)}%`);
/** `2.3rps`, or `-` when nothing was seen. */
export const rps = (value: number, seen = value > 0): string => (seen ? `${value.toFixed(1)}rps` : '-');
/** Whole milliseconds as Linkerd prints them (`1ms`), or `-` without observations. */
export const ms = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '-' : `${Math.round(value)}ms`);
/** `1.2KiB/s`-style rates for -o wide. */
export function bytesPerSec(value: number | null): string {
  if (value === null) return '-';
  if (value < 1024) return `${value.toFixed(1)}B/s`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)}KiB/s`;
  return `${(value / 1024 / 1024).toFixed(1)}MiB/s`;
}
