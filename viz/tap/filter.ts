// A tap request as `mesh viz tap` takes it (a resource, --to, --method, --path, --authority),
// checked field by field and turned into the match every selected proxy applies (api/tap.proto).
import type { TapMatch } from '../../api/tap-proto.ts';
import { plainSeconds, plainSecondsRange } from '../../api/plain-seconds.ts';
import { wholeNumber, wholeNumberRange } from '../../api/whole-number.ts';
import { VizError } from '../errors.ts';
import { namesOf, parseResource, type ResourceRef } from '../query/resource.ts';

export interface TapFilter {
  resource: ResourceRef;
  namespace: string;
  to?: ResourceRef;
  toNamespace?: string;
  method?: string;
  pathPrefix?: string;
  authority?: string;
  /** Requests per second to report, over all the selected proxies. */
  maxRps: number;
  /** Requests to report before the tap ends; 0: until the caller stops. */
  limit: number;
  /** End after this long; 0: until the caller stops. */
  durationMs: number;
  /** Ask the proxies for each layer's decisions on every reported request (`ResponseEnd.journey`). */
  journey: boolean;
}

/** Linkerd's default: 100 requests per second. */
export const DEFAULT_MAX_RPS = 100;

const METHOD = /^[A-Z]{1,20}$/;
const AUTHORITY = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/i;

function bad(message: string): VizError {
  return new VizError('BAD_ARGUMENT', `malformed filter: ${message}`);
}

/** A count parameter, by the rule of every count flag (api/whole-number.ts), named as its flag. */
function count(text: string | undefined, flag: string, fallback: number, max: number): number {
  if (text === undefined || text === '') return fallback;
  const n = wholeNumber(text, 0, max);
  if (n === undefined) throw bad(`${flag} must be ${wholeNumberRange(0, max)}, got "${text}"`);
  return n;
}

export function parseTapFilter(q: Record<string, string | undefined>, defaultNamespace: (resource: ResourceRef) => string): TapFilter {
  if (!q.resource) throw new VizError('BAD_ARGUMENT', 'parameter "resource" is required (deploy/NAME, po/NAME or ns/NAME)');
  const resource = parseResource(q.resource);
  if (resource.kind === 'authority' || resource.kind === 'service') throw bad(`tap selects pods: use deploy/NAME, po/NAME or ns/NAME, got ${q.resource}`);
  if (!resource.name && resource.kind !== 'namespace') throw bad(`tap needs one resource: ${q.resource}/NAME`);
  const to = q.to ? parseResource(q.to, 'to') : undefined;
  if (to && (to.kind === 'authority' || to.kind === 'service' || !to.name)) throw bad(`--to must be deploy/NAME, po/NAME or ns/NAME, got ${q.to}`);
  if (q.method !== undefined && !METHOD.test(q.method)) throw bad(`--method must be an HTTP method such as GET or POST, got "${q.method}"`);
  if (q.path !== undefined && !q.path.startsWith('/')) throw bad(`--path must start with "/", got "${q.path}"`);
  if (q.authority !== undefined && !AUTHORITY.test(q.authority)) throw bad(`--authority must be host[:port], got "${q.authority}"`);
  const namespace = resource.kind === 'namespace' ? resource.name! : q.namespace || defaultNamespace(resource);
  // `10` or `10s`, as Linkerd's tap takes it; 0 (the default) taps until the client leaves.
  const durationS = q.duration === undefined ? 0 : plainSeconds(q.duration.replace(/s$/, ''), 0, 3600);
  if (durationS === undefined) throw bad(`--duration must be ${plainSecondsRange(0, 3600)} (an "s" after them is allowed), got "${q.duration}"`);
  if (q.journey !== undefined && q.journey !== 'true' && q.journey !== 'false') throw bad(`journey must be true or false, got "${q.journey}"`);
  return {
    resource, namespace, to, toNamespace: q.toNamespace || namespace,
    method: q.method, pathPrefix: q.path, authority: q.authority,
    maxRps: count(q.maxRps, '--max-rps', DEFAULT_MAX_RPS, 10_000) || DEFAULT_MAX_RPS,
    limit: count(q.limit, '--limit', 0, 1_000_000),
    durationMs: Math.round(durationS * 1000),
    journey: q.journey === 'true',
  };
}

/** The match every tapped proxy applies: the http fields, and `--to` as the destination. */
export function tapMatch(f: TapFilter): TapMatch | undefined {
  const all: TapMatch[] = [];
  if (f.to) {
    // Where the request goes, as the tapped proxy sees it: out of its pod, to `to`.
    all.push({ direction: 'OUTBOUND' });
    if (f.to.kind === 'deployment') {
      const names = namesOf(f.to);
      all.push(names.length === 1 ? { destination: { deployment: names[0]! } } : { any: { matches: names.map((d) => ({ destination: { deployment: d } })) } });
    }
    if (f.to.kind === 'pod') all.push({ destination: { pod: f.to.name! } });
    all.push({ destination: { namespace: f.to.kind === 'namespace' ? f.to.name! : f.toNamespace! } });
  }
  if (f.method) all.push({ http: { method: f.method } });
  if (f.pathPrefix) all.push({ http: { pathPrefix: f.pathPrefix } });
  if (f.authority) all.push({ http: { authority: f.authority } });
  if (all.length === 0) return undefined;
  return all.length === 1 ? all[0] : { all: { matches: all } };
}
