// `routes`: per-route golden metrics of the calls to a deployment or service, from the callers'
// route_* series (effective: each request once) and route_actual_* (actual: every attempt).
import { VizError } from '../errors.ts';
import { eq, oneOf, type GroupValue, type Matcher, type MetricsSource } from '../metrics/source.ts';
import { namesOf, type ResourceRef } from './resource.ts';

export interface RouteRow {
  route: string;
  /** The authority the callers named (`payments.production.svc.cluster.local:8080`). */
  authority: string;
  effective: { success: number | null; rps: number };
  actual: { success: number | null; rps: number };
  latencyMs: { p50: number; p95: number; p99: number } | null;
}

export interface RoutesRequest {
  /** `deploy/X` or `svc/X`. */
  resource: ResourceRef;
  namespace: string;
  /** With a deploy resource: only its calls to this deployment or service, measured at its outbound side. */
  to?: ResourceRef;
  windowMs: number;
}

/** The name of requests no route matched, as Linkerd prints it. */
export const DEFAULT_ROUTE = '[DEFAULT]';

/** True when `authority` names service `svc` in `namespace` (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`, any port). */
export function namesService(authority: string, svc: string, namespace: string): boolean {
  const host = authority.replace(/:\d+$/, '').replace(/\.$/, '').split('.');
  return host[0] === svc && (host.length === 1 || host[1] === namespace);
}

export async function routes(req: RoutesRequest, source: MetricsSource): Promise<RouteRow[]> {
  const { resource, namespace, to, windowMs } = req;
  if (!resource.name) throw new VizError('BAD_ARGUMENT', 'routes needs one resource: deploy/NAME or svc/NAME');
  if (resource.kind !== 'deployment' && resource.kind !== 'service') throw new VizError('BAD_ARGUMENT', `routes are for deploy/NAME or svc/NAME, got ${resource.kind}`);
  if (to && (to.kind !== 'deployment' && to.kind !== 'service' || !to.name)) throw new VizError('BAD_ARGUMENT', '--to must be deploy/NAME or svc/NAME');
  if (to && resource.kind !== 'deployment') throw new VizError('BAD_ARGUMENT', '--to needs a deploy/NAME to measure at');

  // Whose route series to read, and which of their authorities count.
  let callers: Matcher[];
  let target: ResourceRef;
  if (to) {
    callers = [eq('namespace', namespace), oneOf('deployment', namesOf(resource))];
    target = to;
  } else {
    callers = [];
    target = resource;
  }
  const wanted = await authoritiesOf(target, namespace, callers, windowMs, source);
  const match = [eq('direction', 'outbound'), ...callers];
  const by = ['dst', 'rt_route'];
  const [eff, effOk, act, actOk, p50, p95, p99] = await Promise.all([
    source.rate('route_response_total', match, by, windowMs),
    source.rate('route_response_total', [...match, eq('classification', 'success')], by, windowMs),
    source.rate('route_actual_response_total', match, by, windowMs),
    source.rate('route_actual_response_total', [...match, eq('classification', 'success')], by, windowMs),
    source.quantile(0.5, 'route_response_latency_ms', match, by, windowMs),
    source.quantile(0.95, 'route_response_latency_ms', match, by, windowMs),
    source.quantile(0.99, 'route_response_latency_ms', match, by, windowMs),
  ]);
  const keyOf = (g: GroupValue) => `${g.labels.dst}\u0000${g.labels.rt_route}`;
  const index = (rows: GroupValue[]) => new Map(rows.map((g) => [keyOf(g), g.value]));
  const [effOkBy, actBy, actOkBy, p50By, p95By, p99By] = [effOk, act, actOk, p50, p95, p99].map(index);
  const rows: RouteRow[] = [];
  for (const g of eff) {
    const dst = g.labels.dst ?? '';
    if (!wanted(dst)) continue;
    const key = keyOf(g);
    const actRps = actBy.get(key) ?? 0;
    rows.push({
      route: g.labels.rt_route || DEFAULT_ROUTE,
      authority: dst,
      effective: { rps: g.value, success: g.value > 0 ? (effOkBy.get(key) ?? 0) / g.value : null },
      actual: { rps: actRps, success: actRps > 0 ? (actOkBy.get(key) ?? 0) / actRps : null },
      latencyMs: p50By.has(key) ? { p50: p50By.get(key)!, p95: p95By.get(key) ?? NaN, p99: p99By.get(key) ?? NaN } : null,
    });
  }
  // Named routes first, by name, then the default route, as Linkerd lists them.
  return rows.sort((a, b) => (a.route === DEFAULT_ROUTE ? 1 : 0) - (b.route === DEFAULT_ROUTE ? 1 : 0) || a.route.localeCompare(b.route) || a.authority.localeCompare(b.authority));
}

/**
 * Which authorities lead to `target`: for a service, those that name it; for a deployment,
 * those whose requests the callers' outbound series show served by its pods (`dst_deployment`).
 */
async function authoritiesOf(target: ResourceRef, namespace: string, callers: Matcher[], windowMs: number, source: MetricsSource): Promise<(authority: string) => boolean> {
  if (target.kind === 'service') return (a) => namesService(a, target.name!, namespace);
  const served = await source.rate('response_total', [eq('direction', 'outbound'), ...callers, eq('dst_namespace', namespace), oneOf('dst_deployment', namesOf(target))], ['authority'], windowMs);
  const set = new Set(served.map((g) => g.labels.authority));
  return (a) => set.has(a);
}
