// What every `mesh viz` command that asks for rows shares: its common flags, and how an answer
// prints (JSON for programs, a line on stderr when there is nothing, else the command's table).
import { reportingVizErrors, vizAddress, vizGet } from './client.ts';
import type { OutputFormat } from './output.ts';

/** The flags of every rows command (the resource's namespace, the window, -o, the viz's address). */
export const ROWS_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'time-window': { type: 'string', short: 't' },
  output: { type: 'string', short: 'o' },
  'viz-addr': { type: 'string' },
} as const;

export interface RowsRequest<R> {
  /** `viz authz`: how errors name the command. */
  command: string;
  vizAddr: string | undefined;
  /** `/api/v1/authz` */
  path: string;
  query: Record<string, string | undefined>;
  format: OutputFormat;
  /** Said on stderr when no rows came back. */
  none: string;
  table(rows: R[], wide: boolean): string;
}

/** Asks the viz for `path`'s rows and prints them; exit 1 with the reason when the viz cannot answer. */
export function printRows<R>(r: RowsRequest<R>): Promise<number> {
  return reportingVizErrors(r.command, async () => {
    const { rows } = await vizGet<{ rows: R[] }>(vizAddress(r.vizAddr), r.path, r.query);
    if (r.format === 'json') console.log(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) console.error(r.none);
    else console.log(r.table(rows, r.format === 'wide'));
    return 0;
  });
}
