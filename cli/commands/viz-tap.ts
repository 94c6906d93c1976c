// `mesh viz tap deploy/X [--to deploy/Y] [--method M] [--path P]`: live requests through the
// selected pods' proxies, in Linkerd's line format; says why when nothing matched.
import { reportingVizErrors, vizAddress } from '../../viz/cli/client.ts';
import { outputFormat } from '../../viz/cli/output.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';
import { readStream } from '../../viz/cli/stream.ts';
import { TAP_FLAGS_USAGE, TAP_OPTIONS, tapParams } from '../../viz/cli/tap-args.ts';
import { tapLine } from '../../viz/cli/tap-lines.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'watch live requests through a deploy, pod or namespace (Linkerd\'s tap line format)';

const USAGE = `usage: mesh viz tap (deploy|po|ns)/NAME [options]

${TAP_FLAGS_USAGE}
  -o, --output FORMAT        wide (adds src_res/dst_res) or json (one event per line)`;

export function run(args: string[]): Promise<number> {
  return runCommand('viz tap', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, TAP_OPTIONS, { positionals: { count: 1, expected: 'one resource (deploy/NAME, po/NAME or ns/NAME)' } });
    const format = outputFormat(values.output);
    resourceArg(positionals[0]!);
    const params = tapParams(positionals[0]!, values);
    return reportingVizErrors('viz tap', async () => {
      let failed = false;
      let requests = 0;
      const started = Date.now();
      const how = await readStream(vizAddress(values['viz-addr']), '/api/v1/tap', params, (line) => {
        if (line.type === 'event') {
          if (line.event === 'requestInit') requests++;
          console.log(format === 'json' ? JSON.stringify(line) : tapLine(line, format === 'wide'));
        } else if (line.type === 'start') {
          for (const s of line.skipped) console.error(`mesh viz tap: not tapping ${s.pod}: ${s.why}`);
        } else if (line.type === 'error') {
          failed = true;
          console.error(`mesh viz tap: ${line.message}`);
        } else if (line.type === 'end') {
          console.error(`tap ended: ${line.message}`);
        }
      });
      if (how === 'interrupted') {
        const seconds = Math.round((Date.now() - started) / 1000);
        console.error(requests === 0 ? `tap stopped: no request matched the filter in ${seconds}s` : `tap stopped: ${requests} requests in ${seconds}s`);
      }
      return failed ? 1 : 0;
    });
  });
}
