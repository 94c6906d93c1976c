// Converts between the destination's data types (destination-types.ts) and its proto messages
// (destination-messages.ts): the destination sends with *ToWire, proxies and the CLI read with *FromWire.
import { isDefaultPolicy } from './destination-types.ts';
import type {
  Authorization,
  CombinedMatch,
  HttpRouteFilter,
  RedirectFilter,
  DefaultPolicy,
  Endpoint,
  HttpRouteMatch,
  InboundPolicy,
  Profile,
  RequestMatch,
  ResponseMatch,
  ServerProtocol,
} from './destination-types.ts';
import type {
  CombinedMatchMessage,
  EndpointMessage,
  HttpRouteMatchMessage,
  HttpRouteFilterMessage,
  HttpRouteRuleMessage,
  InboundPolicyMessage,
  ProfileUpdateMessage,
  RequestMatchMessage,
  ResponseMatchMessage,
} from './destination-messages.ts';

export function endpointToWire(e: Endpoint): EndpointMessage {
  return { address: e.address, weight: e.weight, identity: e.identity ?? '', protocolHint: { inboundPort: e.inboundPort ?? 0, h2: !!e.h2 }, labels: e.labels, metricLabels: e.metricLabels ?? {} };
}

export function endpointFromWire(w: EndpointMessage): Endpoint {
  const e: Endpoint = { address: String(w.address), weight: Number(w.weight) || 1, labels: { ...(w.labels ?? {}) } };
  if (w.identity) e.identity = String(w.identity);
  // One object per endpoint, kept as the proxy's metrics key their dst_* labels by its identity.
  if (w.metricLabels && Object.keys(w.metricLabels).length > 0) e.metricLabels = { ...w.metricLabels };
  if (w.protocolHint?.inboundPort) {
    e.inboundPort = Number(w.protocolHint.inboundPort);
    e.h2 = !!w.protocolHint.h2;
  }
  return e;
}

function requestMatchToWire(m: RequestMatch): RequestMatchMessage {
  if ('method' in m) return { method: m.method };
  if ('pathRegex' in m) return { pathRegex: m.pathRegex };
  return combinedMatchToWire(m, requestMatchToWire);
}

function requestMatchFromWire(w: RequestMatchMessage | null | undefined): RequestMatch {
  switch (w?.match) {
    case 'method': return { method: w.method ?? '' };
    case 'pathRegex': return { pathRegex: w.pathRegex ?? '' };
    default: return combinedMatchFromWire(w, requestMatchFromWire);
  }
}

function responseMatchToWire(m: ResponseMatch): ResponseMatchMessage {
  if ('status' in m) return { status: m.status };
  return combinedMatchToWire(m, responseMatchToWire);
}

function responseMatchFromWire(w: ResponseMatchMessage | null | undefined): ResponseMatch {
  if (w?.match === 'status') return { status: { min: Number(w.status?.min), max: Number(w.status?.max) } };
  return combinedMatchFromWire(w, responseMatchFromWire);
}

/** The all / any / not of a request or a response condition; `toWire` converts its parts. */
function combinedMatchToWire<M, W>(m: CombinedMatch<M>, toWire: (part: M) => W): CombinedMatchMessage<W> {
  if ('all' in m) return { all: { matches: m.all.map(toWire) } };
  if ('any' in m) return { any: { matches: m.any.map(toWire) } };
  return { not: toWire(m.not) };
}

function combinedMatchFromWire<W, M>(w: (CombinedMatchMessage<W> & { match?: string }) | null | undefined, fromWire: (part: W | null | undefined) => M): CombinedMatch<M> {
  switch (w?.match) {
    case 'all': return { all: (w.all?.matches ?? []).map(fromWire) };
    case 'any': return { any: (w.any?.matches ?? []).map(fromWire) };
    case 'not': return { not: fromWire(w.not) };
    default: return { all: [] }; // an empty condition matches everything
  }
}

function httpMatchToWire(m: HttpRouteMatch): HttpRouteMatchMessage {
  return { path: m.path ?? null, headers: m.headers ?? [], queryParams: m.queryParams ?? [], method: m.method ?? '' };
}

type PathMatchType = NonNullable<HttpRouteMatch['path']>['type'];
type ValueMatchType = NonNullable<HttpRouteMatch['headers']>[number]['type'];
const valueMatchFromWire = (h: { name?: string; value?: string; type?: string }) => ({ name: h.name ?? '', value: h.value ?? '', type: (h.type || 'Exact') as ValueMatchType });

function httpMatchFromWire(w: HttpRouteMatchMessage): HttpRouteMatch {
  const m: HttpRouteMatch = {};
  if (w.path) m.path = { type: w.path.type as PathMatchType, value: w.path.value ?? '' };
  if (w.headers?.length) m.headers = w.headers.map(valueMatchFromWire);
  if (w.queryParams?.length) m.queryParams = w.queryParams.map(valueMatchFromWire);
  if (w.method) m.method = w.method;
  return m;
}

export function profileToWire(p: Profile): ProfileUpdateMessage {
  return {
    fullyQualifiedName: p.fqdn,
    routes: p.routes.map((r) => ({
      name: r.name,
      condition: requestMatchToWire(r.condition),
      responseClasses: r.responseClasses.map((c) => ({ condition: responseMatchToWire(c.condition), isFailure: c.isFailure })),
      timeoutMs: r.timeoutMs,
      isRetryable: r.isRetryable,
    })),
    retryBudget: p.retryBudget ?? null,
    opaqueProtocol: p.opaqueProtocol ?? false,
    failureAccrual: p.failureAccrual ?? null,
    httpRoutes: p.httpRoutes.map((h) => ({
      name: h.name,
      rules: h.rules.map((r) => ({
        matches: r.matches.map(httpMatchToWire),
        backends: r.backends.map((b) => ({ authority: b.authority, weight: b.weight, failure: b.failure ?? '' })),
        requestTimeoutMs: r.requestTimeoutMs,
        backendTimeoutMs: r.backendTimeoutMs,
        retry: r.retry ?? null,
        failoverDisabled: r.failoverDisabled ?? false,
        filters: (r.filters ?? []).map(filterToWire),
        failure: r.failure ?? '',
      })),
    })),
  };
}

function filterToWire(f: HttpRouteFilter): HttpRouteFilterMessage {
  if (f.type === 'RequestRedirect') {
    return {
      type: f.type,
      redirect: { scheme: f.scheme ?? '', hostname: f.hostname ?? '', pathType: f.path?.type ?? '', pathValue: f.path?.value ?? '', port: f.port ?? 0, statusCode: f.statusCode },
    };
  }
  return { type: f.type, headerModifier: { set: f.set, add: f.add, remove: f.remove } };
}

/**
 * A filter from the wire, or why this proxy cannot apply it (a type or value it does not know):
 * the rule is then refused (answered 500) rather than served without the filter.
 */
function filterFromWire(w: HttpRouteFilterMessage): HttpRouteFilter | string {
  if (w.type === 'RequestRedirect') {
    const r = w.redirect ?? {};
    const f: RedirectFilter = { type: 'RequestRedirect', statusCode: Number(r.statusCode) || 302 };
    if (r.scheme === 'http' || r.scheme === 'https') f.scheme = r.scheme;
    else if (r.scheme) return `redirect scheme ${JSON.stringify(r.scheme)} is not http or https`;
    if (r.hostname) f.hostname = r.hostname;
    if (r.port) f.port = Number(r.port);
    if (r.pathType === 'ReplaceFullPath' || r.pathType === 'ReplacePrefixMatch') f.path = { type: r.pathType, value: r.pathValue ?? '' };
    else if (r.pathType) return `redirect path type ${JSON.stringify(r.pathType)} is not one this proxy applies`;
    return f;
  }
  if (w.type === 'RequestHeaderModifier' || w.type === 'ResponseHeaderModifier') {
    const m = w.headerModifier ?? {};
    const pairs = (l?: Array<{ name?: string; value?: string }>) => (l ?? []).map((h) => ({ name: (h.name ?? '').toLowerCase(), value: h.value ?? '' }));
    return { type: w.type, set: pairs(m.set), add: pairs(m.add), remove: (m.remove ?? []).map((n) => n.toLowerCase()) };
  }
  return `filter type ${JSON.stringify(w.type)} is not one this proxy applies`;
}

/** proto `float` carries 0.2 as 0.20000000298; six digits is all a ratio needs. */
const ratio = (x: number) => Math.round(x * 1e6) / 1e6;

export function profileFromWire(w: ProfileUpdateMessage): Profile {
  const p: Profile = {
    fqdn: w.fullyQualifiedName ?? '',
    routes: (w.routes ?? []).map((r) => ({
      name: r.name ?? '',
      condition: requestMatchFromWire(r.condition),
      responseClasses: (r.responseClasses ?? []).map((c) => ({ condition: responseMatchFromWire(c.condition), isFailure: !!c.isFailure })),
      timeoutMs: Number(r.timeoutMs) || 0,
      isRetryable: !!r.isRetryable,
    })),
    httpRoutes: (w.httpRoutes ?? []).map((h) => ({
      name: h.name ?? '',
      rules: (h.rules ?? []).map((r: HttpRouteRuleMessage) => {
        const rule: Profile['httpRoutes'][number]['rules'][number] = {
          matches: (r.matches ?? []).map(httpMatchFromWire),
          backends: (r.backends ?? []).map((b) => ({ authority: b.authority ?? '', weight: Number(b.weight), ...(b.failure ? { failure: b.failure } : {}) })),
          requestTimeoutMs: Number(r.requestTimeoutMs) || 0,
          backendTimeoutMs: Number(r.backendTimeoutMs) || 0,
        };
        if (r.failoverDisabled) rule.failoverDisabled = true;
        const filters = (r.filters ?? []).map(filterFromWire);
        const unknown = filters.filter((f): f is string => typeof f === 'string');
        if (filters.length > unknown.length) rule.filters = filters.filter((f): f is HttpRouteFilter => typeof f !== 'string');
        if (r.failure || unknown.length > 0) rule.failure = [r.failure, ...unknown].filter(Boolean).join('; ');
        if (r.retry) {
          rule.retry = {
            httpStatuses: (r.retry.httpStatuses ?? []).map((s) => ({ min: Number(s.min), max: Number(s.max) })),
            grpcStatuses: [...(r.retry.grpcStatuses ?? [])],
            limit: Number(r.retry.limit) || 0,
            timeoutMs: Number(r.retry.timeoutMs) || 0,
          };
        }
        return rule;
      }),
    })),
  };
  if (w.retryBudget) {
    p.retryBudget = { retryRatio: ratio(Number(w.retryBudget.retryRatio)), minRetriesPerSecond: Number(w.retryBudget.minRetriesPerSecond), ttlMs: Number(w.retryBudget.ttlMs) };
  }
  if (w.opaqueProtocol) p.opaqueProtocol = true;
  const fa = w.failureAccrual;
  // A policy that cannot work (no failure count, no backoff) is no circuit breaker at all.
  if (fa && Number(fa.consecutiveFailures) >= 1 && Number(fa.minBackoffMs) > 0) {
    const minBackoffMs = Number(fa.minBackoffMs);
    p.failureAccrual = {
      consecutiveFailures: Number(fa.consecutiveFailures),
      minBackoffMs,
      maxBackoffMs: Math.max(minBackoffMs, Number(fa.maxBackoffMs) || 0),
      jitter: Math.min(1, Math.max(0, ratio(Number(fa.jitter) || 0))),
    };
  }
  return p;
}

export function policyToWire(p: InboundPolicy): InboundPolicyMessage {
  return {
    port: p.port,
    server: p.server ? { name: p.server.name, protocol: p.server.protocol, accessPolicy: p.server.accessPolicy ?? 'deny' } : null,
    authorizations: p.authorizations.map((a) => ({
      name: a.name,
      authentication: a.authentication,
      routeMatches: (a.routeMatches ?? []).map(httpMatchToWire),
      routeScoped: a.routeMatches !== undefined,
    })),
    defaultPolicy: p.defaultPolicy,
    clusterNetworks: p.clusterNetworks,
    appProtocol: p.appProtocol ?? '',
  };
}

export function policyFromWire(w: InboundPolicyMessage): InboundPolicy {
  const p: InboundPolicy = {
    port: Number(w.port),
    authorizations: (w.authorizations ?? []).map((a) => {
      const authz: Authorization = {
        name: a.name ?? '',
        authentication: {
          unauthenticated: !!a.authentication?.unauthenticated,
          identities: [...(a.authentication?.identities ?? [])],
          identitySuffixes: [...(a.authentication?.identitySuffixes ?? [])],
          networks: [...(a.authentication?.networks ?? [])],
        },
      };
      if (a.routeScoped) authz.routeMatches = (a.routeMatches ?? []).map(httpMatchFromWire);
      return authz;
    }),
    defaultPolicy: (w.defaultPolicy || 'all-unauthenticated') as DefaultPolicy,
    clusterNetworks: [...(w.clusterNetworks ?? [])],
  };
  if (w.server) {
    // An accessPolicy this proxy does not know (or none, from an older destination) fails closed.
    const access = w.server.accessPolicy ?? '';
    p.server = { name: w.server.name ?? '', protocol: (w.server.protocol || 'unknown') as ServerProtocol, accessPolicy: isDefaultPolicy(access) ? access : 'deny' };
  }
  // Anything but the two known values (a newer destination's, say) is as if absent.
  if (w.appProtocol === 'http/1.1' || w.appProtocol === 'h2') p.appProtocol = w.appProtocol;
  return p;
}
