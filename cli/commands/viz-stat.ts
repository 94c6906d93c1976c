// `mesh viz stat`: golden metrics per deployment, pod, namespace, authority or service, from the viz API.
import { resourceArg } from '../../viz/cli/resource-arg.ts';
import { statTable } from '../../viz/cli/stat-table.ts';
import { outputFormat } from '../../viz/cli/output.ts';
import { printRows, ROWS_OPTIONS, VIZ_ADDR_USAGE, WINDOW_USAGE } from '../../viz/cli/rows-command.ts';
import type { StatRow } from '../../viz/query/stat.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'golden metrics (success rate, RPS, latency) per deploy, pod, ns, authority or svc';

const USAGE = `usage: mesh viz stat (deploy|pod|ns|authority|svc)[/NAME] [options]

  -n, --namespace NS         only this namespace (default: every namespace)
  --from RESOURCE            only traffic sent by RESOURCE (deploy/X, po/X, ns/X)
  --to RESOURCE              only traffic the selected resources sent to RESOURCE
${WINDOW_USAGE}
  --proxy-version-mismatch   only resources whose proxies are older than the control plane
  -o, --output FORMAT        wide or json (default: a table)
${VIZ_ADDR_USAGE}`;

const OPTIONS = { ...ROWS_OPTIONS, from: { type: 'string' }, to: { type: 'string' }, 'proxy-version-mismatch': { type: 'boolean' } } as const;

export function run(args: string[]): Promise<number> {
  return runCommand('viz stat', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, { positionals: true });
    const format = outputFormat(values.output);
    if (positionals.length > 1) throw new UsageError(`expected one resource, got ${positionals.length}: ${positionals.join(' ')}`);
    // `mesh viz stat --proxy-version-mismatch` alone, as the lesson writes it, means pods.
    const resource = positionals[0] ?? (values['proxy-version-mismatch'] ? 'po' : undefined);
    if (!resource) throw new UsageError('a resource kind is required (deploy, po, ns, authority or svc)');
    resourceArg(resource);
    if (values.from) resourceArg(values.from, '--from');
    if (values.to) resourceArg(values.to, '--to');
    return printRows<StatRow>({
      command: 'viz stat',
      vizAddr: values['viz-addr'],
      path: '/api/v1/stat',
      query: {
        resource, namespace: values.namespace, from: values.from, to: values.to, window: values['time-window'],
        proxyVersionMismatch: values['proxy-version-mismatch'] ? 'true' : undefined,
      },
      format,
      // With the filter, no rows means no straggler, not no traffic (the lesson runs it to find stragglers).
      none: values['proxy-version-mismatch'] ? 'No proxy is older than the control plane: every pod runs its version, none needs a restart.' : 'No traffic found.',
      table: (rows, wide) => statTable(rows, { wide, showNamespace: !values.namespace }),
    });
  });
}
