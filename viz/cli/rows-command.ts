// What every `mesh viz` command that asks for rows shares: its common flags, and how an answer
// prints (JSON for programs, a line on stderr when there is nothing, else the command's table).
import { parseCommandArgs, runCommand } from '../../cli/args.ts';
import { reportingVizErrors, vizAddress, vizGet } from './client.ts';
import { outputFormat, type OutputFormat } from './output.ts';
import { resourceArg } from './resource-arg.ts';

/** The flags of every rows command (the resource's namespace, the window, -o, the viz's address). */
export const ROWS_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'time-window': { type: 'string', short: 't' },
  output: { type: 'string', short: 'o' },
  'viz-addr': { type: 'string' },
} as const;

/** Usage lines of the two flags every rows command takes, so that each says them alike. */
export const WINDOW_USAGE = '  -t, --time-window WINDOW   10s to 10m (default 1m)';
export const VIZ_ADDR_USAGE = "  --viz-addr ADDR            the viz API (default: the running demo's, else 127.0.0.1:8085)";

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

export interface ResourceRowsCommand<R> {
  /** `viz authz` */
  command: string;
  usage: string;
  /** What the one argument must be, for the usage error: `one resource (deploy/NAME or po/NAME)`. */
  expected: string;
  path: string;
  none: string;
  table(rows: R[], wide: boolean): string;
}

/** A command that takes one resource and the common flags only (`mesh viz authz deploy/X -n NS -t 1m -o wide`). */
export function resourceRowsCommand<R>(c: ResourceRowsCommand<R>): (args: string[]) => Promise<number> {
  return (args) =>
    runCommand(c.command, c.usage, async () => {
      const { values, positionals } = parseCommandArgs(args, ROWS_OPTIONS, { positionals: { count: 1, expected: c.expected } });
      const format = outputFormat(values.output);
      resourceArg(positionals[0]!);
      const query = { resource: positionals[0], namespace: values.namespace, window: values['time-window'] };
      return printRows<R>({ command: c.command, vizAddr: values['viz-addr'], path: c.path, query, format, none: c.none, table: c.table });
    });
}
