// HTTPRoute (policy.linkerd.io v1beta1..v1beta3, gateway.networking.k8s.io v1beta1/v1): matches,
// weighted backendRefs, timeouts, the filters Linkerd supports, and Linkerd's timeout/retry
// annotations; the route spec it shares with GRPCRoute (grpc-route.ts).
import type { HttpRouteMatch, HttpRouteRetry } from '../../../api/destination-types.ts';
import { wholeNumber, wholeNumberRange } from '../../../api/whole-number.ts';
import { compiledRegex, durationMs, Fields, FieldError, MAX_UINT32, shown } from '../field-reader.ts';
import type { BackendRef, HttpRouteResource, HttpRouteRuleResource, ParentRef } from '../resources.ts';
import { checkVersion, readMeta, type ParseContext } from './meta.ts';
import { readRuleFilters, REFUSED } from './route-filters.ts';

export const HTTP_ROUTE_VERSIONS = [
  'policy.linkerd.io/v1alpha1',
  'policy.linkerd.io/v1beta1',
  'policy.linkerd.io/v1beta2',
  'policy.linkerd.io/v1beta3',
  'gateway.networking.k8s.io/v1beta1',
  'gateway.networking.k8s.io/v1',
];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export function parseHttpRoute(doc: Fields, ctx: ParseContext): HttpRouteResource {
  checkVersion(doc, HTTP_ROUTE_VERSIONS);
  return { kind: 'HTTPRoute', ...parseRouteSpec(doc, ctx, 'HTTPRoute', readMatch) };
}

/**
 * What HTTPRoute and GRPCRoute share: parentRefs, rules (matches read by `readMatch`, filters,
 * weighted backendRefs; `timeouts` on HTTPRoute only, as the Gateway API has them), and Linkerd's
 * timeout, retry and failover annotations.
 */
export function parseRouteSpec(doc: Fields, ctx: ParseContext, kind: 'HTTPRoute' | 'GRPCRoute', readMatch: (m: Fields) => HttpRouteMatch): Omit<HttpRouteResource, 'kind'> {
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  const parentRefs = spec.list('parentRefs', (raw, path): ParentRef => {
    const p = Fields.of(raw, path);
    return {
      group: p.optionalString('group') ?? 'gateway.networking.k8s.io',
      kind: p.optionalString('kind') ?? 'Gateway',
      name: p.string('name'),
      namespace: p.optionalString('namespace') || meta.namespace,
      port: p.optionalInteger('port', 1, 65535),
    };
  });
  const rules = spec.list('rules', (raw, path) => {
    const r = Fields.of(raw, path);
    const timeouts = kind === 'HTTPRoute' ? r.optionalObject('timeouts') : undefined;
    const matches = r.list('matches', (m, mp) => readMatch(Fields.of(m, mp)));
    const { filters, refused } = readRuleFilters(r, kind, matches, ctx);
    const backendRefs = r.list('backendRefs', (b, bp) => {
      const backend = Fields.of(b, bp);
      if (backend.has('filters')) {
        ctx.warn(backend.at('filters'), `backendRef filters are not supported (Linkerd applies filters per rule); ${REFUSED}`);
        refused.push(`backendRef filters at ${backend.at('filters')}`);
      }
      return readBackend(backend, meta.namespace);
    });
    const rule: HttpRouteRuleResource = {
      matches,
      backendRefs,
      requestTimeoutMs: timeouts?.has('request') ? durationMs(timeouts.raw['request'], timeouts.at('request')) : undefined,
      backendTimeoutMs: timeouts?.has('backendRequest') ? durationMs(timeouts.raw['backendRequest'], timeouts.at('backendRequest')) : undefined,
      filters,
    };
    if (refused.length > 0) rule.failure = `${kind} ${meta.namespace}/${meta.name} ${path} is refused: ${refused.join(', ')}`;
    return rule;
  });
  const ann = (key: string) => `metadata.annotations["${key}"]`;
  const a = meta.annotations;
  const annotationTimeouts = {
    requestMs: a['timeout.linkerd.io/request'] !== undefined ? durationMs(a['timeout.linkerd.io/request'], ann('timeout.linkerd.io/request')) : undefined,
    responseMs: a['timeout.linkerd.io/response'] !== undefined ? durationMs(a['timeout.linkerd.io/response'], ann('timeout.linkerd.io/response')) : undefined,
  };
  const failover = a['failover.linkerd.io/enabled'];
  if (failover !== undefined && failover !== 'true' && failover !== 'false') {
    throw new FieldError(ann('failover.linkerd.io/enabled'), `must be "true" or "false", got ${shown(failover)}`);
  }
  return { meta, parentRefs, rules, annotationTimeouts, retry: readRetry(a, ann), ...(failover === 'false' ? { failoverDisabled: true } : {}) };
}

function readMatch(m: Fields): HttpRouteMatch {
  const match: HttpRouteMatch = {};
  const path = m.optionalObject('path');
  if (path) {
    const type = path.optionalString('type') ?? 'PathPrefix';
    const value = path.optionalString('value') ?? '/';
    if (type === 'RegularExpression') compiledRegex(value, path.at('value'));
    else if (type === 'Exact' || type === 'PathPrefix') {
      if (!value.startsWith('/')) path.fail('value', `must start with "/", got ${shown(value)}`);
    } else path.fail('type', `must be Exact, PathPrefix or RegularExpression, got ${shown(type)}`);
    match.path = { type: type as 'Exact' | 'PathPrefix' | 'RegularExpression', value };
  }
  const values = (key: 'headers' | 'queryParams') =>
    m.list(key, (raw, p) => {
      const h = Fields.of(raw, p);
      const type = h.optionalString('type') ?? 'Exact';
      const value = h.optionalString('value') ?? '';
      if (type === 'RegularExpression') compiledRegex(value, h.at('value'));
      else if (type !== 'Exact') h.fail('type', `must be Exact or RegularExpression, got ${shown(type)}`);
      return { name: h.string('name'), value, type: type as 'Exact' | 'RegularExpression' };
    });
  if (m.has('headers')) match.headers = values('headers');
  if (m.has('queryParams')) match.queryParams = values('queryParams');
  const method = m.optionalString('method');
  if (method !== undefined) {
    if (!METHODS.has(method)) m.fail('method', `must be one of ${[...METHODS].join(', ')}, got ${shown(method)}`);
    match.method = method;
  }
  return match;
}

function readBackend(b: Fields, routeNamespace: string): BackendRef {
  const kind = b.optionalString('kind') ?? 'Service';
  if (kind !== 'Service') b.fail('kind', `must be Service (the only backend this mesh routes to), got ${shown(kind)}`);
  const weight = b.optionalInteger('weight', 0, 1_000_000) ?? 1;
  return {
    group: b.optionalString('group') ?? '',
    kind,
    name: b.string('name'),
    namespace: b.optionalString('namespace') || routeNamespace,
    port: b.optionalInteger('port', 1, 65535),
    weight,
  };
}

const GRPC_CODES = new Set([
  'cancelled', 'unknown', 'invalid-argument', 'deadline-exceeded', 'not-found', 'already-exists',
  'permission-denied', 'resource-exhausted', 'failed-precondition', 'aborted', 'out-of-range',
  'unimplemented', 'internal', 'unavailable', 'data-loss', 'unauthenticated',
]);

/** `retry.linkerd.io/http: 5xx,429`, `retry.linkerd.io/grpc: unavailable`, `limit`, `timeout`. */
function readRetry(a: Record<string, string>, ann: (k: string) => string): HttpRouteRetry | undefined {
  const http = a['retry.linkerd.io/http'];
  const grpc = a['retry.linkerd.io/grpc'];
  if (http === undefined && grpc === undefined) return undefined;
  const httpStatuses = (http ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = /^([1-5])xx$/.exec(s) ?? undefined;
    if (m) return { min: Number(m[1]) * 100, max: Number(m[1]) * 100 + 99 };
    const r = /^(\d{3})(?:-(\d{3}))?$/.exec(s);
    if (!r || Number(r[1]) < 100 || Number(r[2] ?? r[1]) > 599 || Number(r[1]) > Number(r[2] ?? r[1])) {
      throw new FieldError(ann('retry.linkerd.io/http'), `must be a list of statuses like "5xx,429" or "500-504", got ${shown(s)}`);
    }
    return { min: Number(r[1]), max: Number(r[2] ?? r[1]) };
  });
  const grpcStatuses = (grpc ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const code of grpcStatuses) {
    if (!GRPC_CODES.has(code)) throw new FieldError(ann('retry.linkerd.io/grpc'), `must list gRPC codes like "unavailable,deadline-exceeded", got ${shown(code)}`);
  }
  const limitText = a['retry.linkerd.io/limit'];
  // At most what the wire's uint32 holds: a larger one would wrap to a small limit.
  const limit = limitText === undefined ? 1 : wholeNumber(limitText, 0, MAX_UINT32);
  if (limit === undefined) throw new FieldError(ann('retry.linkerd.io/limit'), `must be ${wholeNumberRange(0, MAX_UINT32)}, got ${shown(limitText)}`);
  const timeoutText = a['retry.linkerd.io/timeout'];
  const timeoutMs = timeoutText === undefined ? 0 : durationMs(timeoutText, ann('retry.linkerd.io/timeout'));
  return { httpStatuses, grpcStatuses, limit, timeoutMs };
}

