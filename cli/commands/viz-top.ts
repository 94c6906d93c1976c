// `mesh viz top deploy/X`: the busiest calls through the selected pods, folded from tap by the
// viz; redrawn every second on a terminal, printed once at the end otherwise.
import { reportingVizErrors, vizAddress } from '../../viz/cli/client.ts';
import { outputFormat } from '../../viz/cli/output.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';
import { readStream } from '../../viz/cli/stream.ts';
import { TAP_FLAGS_USAGE, TAP_OPTIONS, tapParams } from '../../viz/cli/tap-args.ts';
import { topTable } from '../../viz/cli/top-table.ts';
import type { TopRow } from '../../viz/tap/top.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'the busiest calls through a deploy, pod or namespace, live (from tap)';

const USAGE = `usage: mesh viz top (deploy|po|ns)/NAME [options]

${TAP_FLAGS_USAGE}
  -o, --output FORMAT        json (the final table)

On a terminal the table is redrawn every second until Ctrl-C (or --duration, --limit). Otherwise
(a pipe, a file, -o json) --duration defaults to 10 and the table is printed once, at the end.`;

export function run(args: string[]): Promise<number> {
  return runCommand('viz top', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, TAP_OPTIONS, { positionals: { count: 1, expected: 'one resource (deploy/NAME, po/NAME or ns/NAME)' } });
    const format = outputFormat(values.output, ['table', 'json']);
    resourceArg(positionals[0]!);
    const live = process.stdout.isTTY && format === 'table';
    const params = tapParams(positionals[0]!, { ...values, duration: values.duration ?? (live ? undefined : '10') });
    return reportingVizErrors('viz top', async () => {
      let rows: TopRow[] = [];
      let failed = false;
      let end: string | undefined;
      await readStream(vizAddress(values['viz-addr']), '/api/v1/top', params, (line) => {
        if (line.type === 'top') {
          rows = line.rows as TopRow[];
          if (live) process.stdout.write(`\x1b[2J\x1b[H${rows.length ? topTable(rows) : '(no requests yet)'}\n`);
        } else if (line.type === 'error') {
          failed = true;
          console.error(`mesh viz top: ${line.message}`);
        } else if (line.type === 'start') {
          for (const s of line.skipped) console.error(`mesh viz top: not tapping ${s.pod}: ${s.why}`);
        } else if (line.type === 'end') {
          end = line.message;
        }
      });
      if (format === 'json') console.log(JSON.stringify(rows, null, 2));
      else if (!live) console.log(rows.length ? topTable(rows) : 'No requests.');
      if (end) console.error(`top ended: ${end}`);
      return failed ? 1 : 0;
    });
  });
}
