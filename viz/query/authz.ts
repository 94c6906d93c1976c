// `authz`: who the Servers of a deployment let in and turned away, per Server and authorization,
// from its proxies' inbound_http_authz_allow_total / _deny_total (Linkerd's `viz authz`).
import { VizError } from '../errors.ts';
import { eq, oneOf, type MetricsSource } from '../metrics/source.ts';
import { namesOf, type ResourceRef } from './resource.ts';

export interface AuthzRow {
  /** The Server that selected the port (`default:<policy>` when none did). */
  server: string;
  /** The authorization that admitted the requests; null on the row of refused ones. */
  authorization: string | null;
  /** Why requests were refused (`unauthorized`, ...); null on rows of admitted ones. */
  reason: string | null;
  /** Requests (and connections) per second. */
  rps: number;
}

/** The row name Linkerd gives refused requests. */
export const UNAUTHORIZED = '[UNAUTHORIZED]';

export async function authz(resource: ResourceRef, namespace: string, windowMs: number, source: MetricsSource): Promise<AuthzRow[]> {
  if (!resource.name || (resource.kind !== 'deployment' && resource.kind !== 'pod')) throw new VizError('BAD_ARGUMENT', 'authz needs one deploy/NAME or po/NAME');
  const match = [eq('namespace', namespace), oneOf(resource.kind === 'pod' ? 'pod' : 'deployment', namesOf(resource))];
  const [allowed, denied] = await Promise.all([
    source.rate('inbound_http_authz_allow_total', match, ['server', 'authz'], windowMs),
    source.rate('inbound_http_authz_deny_total', match, ['server', 'reason'], windowMs),
  ]);
  const rows: AuthzRow[] = [
    ...allowed.map((g) => ({ server: g.labels.server!, authorization: g.labels.authz!, reason: null, rps: g.value })),
    ...denied.map((g) => ({ server: g.labels.server!, authorization: null, reason: g.labels.reason!, rps: g.value })),
  ];
  return rows.filter((r) => r.rps > 0).sort((a, b) => a.server.localeCompare(b.server) || (a.authorization === null ? 1 : 0) - (b.authorization === null ? 1 : 0));
}
