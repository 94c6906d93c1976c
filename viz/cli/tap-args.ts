// The flags `mesh viz tap` and `mesh viz top` share, checked here (exit 2 on a malformed filter)
// before they go to the viz as query parameters.
import { UsageError } from '../../cli/args.ts';
import { VizError } from '../errors.ts';
import { parseTapFilter } from '../tap/filter.ts';

export const TAP_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  to: { type: 'string' },
  'to-namespace': { type: 'string' },
  method: { type: 'string' },
  path: { type: 'string' },
  authority: { type: 'string' },
  'max-rps': { type: 'string' },
  limit: { type: 'string' },
  duration: { type: 'string' },
  output: { type: 'string', short: 'o' },
  'viz-addr': { type: 'string' },
} as const;

export const TAP_FLAGS_USAGE = `  -n, --namespace NS         the resource's namespace (default: its pods', if in one namespace)
  --to RESOURCE              only requests to RESOURCE (deploy/X, po/X, ns/X)
  --to-namespace NS          RESOURCE's namespace (default: the same)
  --method M                 only this HTTP method
  --path PREFIX              only paths starting with PREFIX
  --authority HOST[:PORT]    only requests to this authority
  --max-rps N                requests per second to report, over all pods (default 100)
  --limit N                  stop after N requests
  --duration SECONDS         stop after this long
  --viz-addr ADDR            the viz API (default: the running demo's, else 127.0.0.1:8085)`;

type Values = { [K in keyof typeof TAP_OPTIONS]?: string };

/** The API's parameters for these flags, after checking them as the viz will. */
export function tapParams(resource: string, v: Values): Record<string, string | undefined> {
  const params = {
    resource, namespace: v.namespace, to: v.to, toNamespace: v['to-namespace'], method: v.method, path: v.path,
    authority: v.authority, maxRps: v['max-rps'], limit: v.limit, duration: v.duration,
  };
  try {
    parseTapFilter(params, () => 'default');
  } catch (err) {
    if (err instanceof VizError) throw new UsageError(err.message);
    throw err;
  }
  return params;
}
