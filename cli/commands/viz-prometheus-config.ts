// `mesh viz prometheus-config`: prints a Prometheus scrape configuration for the mesh's proxies,
// for a Prometheus that `mesh viz serve --prometheus URL` then reads.
import { durationMs } from '../../destination/store/field-reader.ts';
import { vizAddress } from '../../viz/cli/client.ts';
import { prometheusConfig } from '../../viz/prometheus-config.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'print a Prometheus scrape configuration for every proxy (targets from the viz)';

const USAGE = `usage: mesh viz prometheus-config [--viz-addr ADDR] [--scrape-interval 5s]

  --viz-addr ADDR        where Prometheus finds the viz for its targets (default: the running demo's, else 127.0.0.1:8085)
  --scrape-interval D    how often Prometheus scrapes each proxy (default 5s)`;

export function run(args: string[]): Promise<number> {
  return runCommand('viz prometheus-config', USAGE, async () => {
    const { values } = parseCommandArgs(args, { 'viz-addr': { type: 'string' }, 'scrape-interval': { type: 'string', default: '5s' } });
    let ms: number;
    try {
      ms = durationMs(values['scrape-interval'], '--scrape-interval');
    } catch {
      throw new UsageError(`--scrape-interval must be a duration such as 5s, got "${values['scrape-interval']}"`);
    }
    if (ms < 1000 || ms % 1000 !== 0) throw new UsageError(`--scrape-interval must be whole seconds, at least 1s, got "${values['scrape-interval']}"`);
    process.stdout.write(prometheusConfig({ vizAddr: vizAddress(values['viz-addr']), scrapeIntervalSeconds: ms / 1000 }));
    return 0;
  });
}
