// The profile of one Service port: its ServiceProfile (only from the Service's own namespace,
// named <svc>.<ns>.svc.<domain>) and the HTTPRoutes and GRPCRoutes whose parentRef is that Service and port.
import type { HttpRoute, HttpRouteRule, Profile, WeightedBackend } from '../../api/destination-types.ts';
import { DEFAULT_RETRY_BUDGET } from '../store/kinds/service-profile.ts';
import type { PodRegistry } from './pod-registry.ts';
import type { ResourceSet } from '../store/resource-set.ts';
import { inPortRanges, parsePortRanges } from '../../api/port-ranges.ts';
import { OPAQUE_PORTS_ANNOTATION } from '../store/reference-warnings.ts';
import { labelsMatch, serviceSelects, type GrpcRouteResource, type HttpRouteResource, type ServiceResource } from '../store/resources.ts';
import { serviceFqdn, viaClusterIp, type Target } from './authority.ts';

const EMPTY: Profile = { fqdn: '', routes: [], httpRoutes: [] };

export function profileFor(named: Target, set: ResourceSet, contextNamespace: string, clusterDomain: string, pods?: PodRegistry): Profile {
  const target = viaClusterIp(named, set);
  if (target.kind === 'ip') {
    // A pod dialled by its own address: opaque when its proxy announced the port so.
    const pod = pods?.byIp(target.ip);
    return pod?.ports.some((p) => p.port === target.port && p.protocol === 'opaque') ? { ...EMPTY, opaqueProtocol: true } : EMPTY;
  }
  if (target.kind !== 'service') return EMPTY;
  const fqdn = serviceFqdn(target.name, target.namespace, clusterDomain);
  const sp = set.get('ServiceProfile', target.namespace, fqdn);
  const profile: Profile = { fqdn, routes: sp?.routes ?? [], httpRoutes: [] };
  if (sp) profile.retryBudget = sp.retryBudget ?? DEFAULT_RETRY_BUDGET;
  const routes: Array<HttpRouteResource | GrpcRouteResource> = [...set.ofKind('HTTPRoute'), ...set.ofKind('GRPCRoute')];
  const attached = routes.filter((r) => r.parentRefs.some((p) => isParent(p, target)));
  // Consumer routes (in the caller's namespace) override the producer's, as in Linkerd.
  const consumer = attached.filter((r) => r.meta.namespace === contextNamespace && contextNamespace !== target.namespace);
  const producer = attached.filter((r) => r.meta.namespace === target.namespace);
  const chosen = consumer.length > 0 ? consumer : producer;
  profile.httpRoutes = chosen.map((r) => toHttpRoute(r, target, clusterDomain, set));
  const svc = set.get('Service', target.namespace, target.name);
  if (svc && isOpaquePort(svc, target.port, set, pods)) profile.opaqueProtocol = true;
  // The Service's circuit breaker, for each caller's balancer of its endpoints.
  if (svc?.failureAccrual) profile.failureAccrual = svc.failureAccrual;
  return profile;
}

/**
 * Linkerd's opaque ports, as a caller sees them: the Service's `config.linkerd.io/opaque-ports`
 * names the port (or its numeric target port), or a Server in the Service's namespace that
 * selects its pods says `proxyProtocol: opaque` on the target port, or a registered pod it selects
 * announced the target port opaque (the pod's own opaque-ports annotation, through its proxy).
 */
function isOpaquePort(svc: ServiceResource, servicePort: number, set: ResourceSet, pods?: PodRegistry): boolean {
  const port = svc.ports.find((p) => p.port === servicePort);
  if (!port) return false;
  const raw = svc.meta.annotations[OPAQUE_PORTS_ANNOTATION];
  const ranges = raw === undefined ? undefined : parsePortRanges(raw);
  if (ranges && (inPortRanges(port.port, ranges) || (typeof port.targetPort === 'number' && inPortRanges(port.targetPort, ranges)))) return true;
  const selector = svc.selector;
  if (!selector) return false;
  const byServer = set.ofKind('Server').some(
    (s) => s.meta.namespace === svc.meta.namespace && s.proxyProtocol === 'opaque' && s.port === port.targetPort && labelsMatch(s.podSelector, selector),
  );
  if (byServer || !pods) return byServer;
  return pods.all().some(
    (pod) =>
      pod.namespace === svc.meta.namespace &&
      serviceSelects(selector, pod.labels) &&
      pod.ports.some((p) => p.protocol === 'opaque' && (p.port === port.targetPort || (p.name !== undefined && p.name === port.targetPort))),
  );
}

function isParent(p: HttpRouteResource['parentRefs'][number], target: { name: string; namespace: string; port: number }): boolean {
  return (
    p.kind === 'Service' &&
    (p.group === 'core' || p.group === '') &&
    p.name === target.name &&
    p.namespace === target.namespace &&
    (p.port === undefined || p.port === target.port)
  );
}

function toHttpRoute(r: HttpRouteResource | GrpcRouteResource, parent: { name: string; namespace: string; port: number }, clusterDomain: string, set: ResourceSet): HttpRoute {
  const rules = r.rules.map((rule): HttpRouteRule => {
    const backends = rule.backendRefs.map((b): WeightedBackend => {
      const backend: WeightedBackend = { authority: `${serviceFqdn(b.name, b.namespace, clusterDomain)}:${b.port ?? parent.port}`, weight: b.weight };
      // Gateway API: a backendRef that cannot be resolved gets 500 for its share of the requests.
      if (!set.get('Service', b.namespace, b.name)) backend.failure = `backendRef Service ${b.namespace}/${b.name} of HTTPRoute ${r.meta.namespace}/${r.meta.name} does not exist`;
      return backend;
    });
    const out: HttpRouteRule = {
      matches: rule.matches,
      // A rule without backendRefs sends to its parent Service.
      backends: backends.length > 0 ? backends : [{ authority: `${serviceFqdn(parent.name, parent.namespace, clusterDomain)}:${parent.port}`, weight: 1 }],
      requestTimeoutMs: rule.requestTimeoutMs ?? r.annotationTimeouts.requestMs ?? 0,
      backendTimeoutMs: rule.backendTimeoutMs ?? r.annotationTimeouts.responseMs ?? 0,
    };
    if (r.retry) out.retry = r.retry;
    if (r.failoverDisabled) out.failoverDisabled = true;
    if (rule.filters.length > 0) out.filters = rule.filters;
    if (rule.failure) out.failure = rule.failure;
    return out;
  });
  return { name: `${r.meta.namespace}/${r.meta.name}`, rules };
}
