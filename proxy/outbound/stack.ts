// The outbound stack (app -> mesh), assembled top to bottom: what a request meets on its way
// from the outbound listener to another pod's proxy, one layer or tier per line with the reason.
import type { Duplex } from 'node:stream';
import { inPortRanges, type PortRanges } from '../../api/port-ranges.ts';
import type { Logger } from 'pino';
import type { Endpoint } from '../../api/destination-types.ts';
import type { Resolver } from '../discovery/resolver.ts';
import type { Watched } from '../discovery/watched.ts';
import { ProxyError } from '../errors.ts';
import { portOf } from '../server/request-context.ts';
import { stack, type Layer, type Service } from '../http/message.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import { createConcreteService, firstEndpointSet, unmeshed } from './concrete/index.ts';
import type { EndpointClients } from './endpoint-clients.ts';
import { ingressRouting } from './ingress.ts';
import { failoverMessage, splitService, type Failover, type WeightMove } from './logical/backend-split.ts';
import type { RoutePolicy } from './logical/route-table.ts';
import type { EndpointSet } from '../../api/destination-types.ts';
import { createLogicalService, type LogicalRoute, type RouteService } from './logical/index.ts';
import { retryLayer } from './logical/retry.ts';
import { refusedRule, routeFilterLayer } from './logical/route-filters.ts';
import { timeoutLayer } from './logical/timeout.ts';
import { lastAuthorityMemo, normalizeAuthority, TargetCache, watching } from './targets.ts';

export interface OutboundStackOptions {
  resolver: Resolver;
  endpoints: EndpointClients;
  metrics: ProxyMetrics;
  logger: Logger;
  /** How long a request waits for discovery's first answer about a new authority. */
  discoveryTimeoutMs: number;
  /** Most authorities with a cached stack (they come from untrusted requests). */
  maxTargets: number;
  /** This proxy's own listener addresses: a request aimed at one would loop forever. */
  selfAddresses: ReadonlySet<string>;
  /** Ingress mode: `l5d-dst-override` names the destination (else Host), as Linkerd's ingress mode does. */
  ingress?: boolean;
  /** Ingress mode: where requests go whose Host names no mesh service (`--ingress-default-dst`). */
  ingressDefaultDst?: string;
  /** Reports requests to open taps (proxy/tap/); one field check when nobody taps. */
  tap?: Layer;
  /** `--skip-outbound-ports`: connections to these ports go straight to their target, outside the mesh. */
  skipPorts?: PortRanges;
}

/**
 * How a connection's bytes are carried before any is read: `skip` (a skipped outbound port:
 * straight to the target, no discovery, no mTLS), `opaque` (discovery says the port is opaque:
 * over mTLS, no protocol detection, so a server that speaks first is heard at once) or `detect`.
 */
export type ConnectionKind = 'skip' | 'opaque' | 'detect';

export interface OutboundStack {
  service: Service;
  /** Raw bytes to what `target` (`host:port`) resolves to: CONNECT, opaque TCP, WebSocket. */
  openTunnel(target: string): Promise<Duplex>;
  /** Whether a connection to `target` skips the mesh, is opaque, or is detected (asked before reading it). */
  connectionKind(target: string): Promise<ConnectionKind>;
  /** Raw bytes to `target` as named, outside the mesh (a skipped port). */
  openDirect(target: string): Promise<Duplex>;
  /** Drops the cached targets and releases their discovery watches. */
  close(): void;
}

/** What a route's stack reports; ProxyMetrics fits this shape. */
export interface RetryMetrics {
  retried(labels: { direction: 'inbound' | 'outbound'; authority: string; route?: string }): void;
  /** Per-route metrics: `effective` counts each request once, `actual` (when the route retries) each attempt. */
  routeLayers?(dst: string, route: string | undefined, retries: boolean): { effective: Layer; actual?: Layer };
  failover?(labels: { authority: string; backend: string; state: WeightMove }): void;
}

export function buildOutboundStack(opts: OutboundStackOptions): OutboundStack {
  const normalize = lastAuthorityMemo();
  const toLogical: Service = (req) => {
    const authority = normalize(req.authority, req.scheme);
    if (opts.selfAddresses.has(authority)) throw new ProxyError('LOOP', `request to ${authority} would come back to this proxy`);
    return logical.get(authority)(req);
  };

  const service = stack(
    toLogical,
    // Ingress mode: the caller (an ingress controller, a user's curl) names the mesh service in
    // `l5d-dst-override`; without it the Host header routes, or the default destination when the
    // Host names no mesh service (ingress.ts). First, so metrics carry the service the request went to.
    ...(opts.ingress ? [ingressRouting({ resolver: opts.resolver, defaultDst: opts.ingressDefaultDst, discoveryTimeoutMs: opts.discoveryTimeoutMs })] : []),
    // Golden metrics next, so they count every request, including errors the proxy makes below.
    opts.metrics.requestLayer(),
    // Tap, under metrics, so a tapped request's events match what metrics count; above routing, so
    // the journey starts before the first decision (the layers below note theirs in ctx.journey).
    ...(opts.tap ? [opts.tap] : []),
  );

  // Each cache entry below owns a target's stack and the discovery watch it reads: evicting the
  // least recently used target (past `maxTargets`) releases its watch with it (targets.ts).

  // The logical tier, per authority the app named: its profile's routes, each with the route stack below.
  // Releasing a target also releases its route stacks (their failover watches).
  const logical = new TargetCache<Service>(opts.maxTargets, (authority) => {
    const profile = opts.resolver.profile(authority);
    // The authority's own endpoints, asked for now beside its profile rather than once the
    // profile has come: most routes send to the authority itself, so its first request then
    // waits for one answer from the destination, not two in a row (a new pod's first requests).
    const prefetched = opts.resolver.endpoints(authority).subscribe(() => {});
    const toConcrete = (backend: string) => concrete.get(backend);
    const route = routeStack({ authority, concrete: toConcrete, backendEndpoints, metrics: opts.metrics, logger: opts.logger });
    const built = createLogicalService({ authority, profile, route, concrete: toConcrete, logger: opts.logger, profileTimeoutMs: opts.discoveryTimeoutMs });
    const held = watching(profile, built.service);
    return { stack: held.stack, release: () => (held.release(), built.release(), prefetched()) };
  });

  // The concrete tier, per backend authority: its endpoints behind a balancer, or the authority as named when not a mesh service.
  // Its profile is held too, for the Service's circuit breaker (the same watch as the logical
  // tier's when the route sends to the authority itself; its own for a split's backends).
  const concrete = new TargetCache<Service>(opts.maxTargets, (authority) => {
    const endpoints = opts.resolver.endpoints(authority);
    const profile = opts.resolver.profile(authority);
    const held = watching(endpoints, createConcreteService({ authority, endpoints, profile, connect: endpoint, preconnect, discoveryTimeoutMs: opts.discoveryTimeoutMs, logger: opts.logger }));
    const profileHeld = profile.subscribe(() => {});
    // Its balancer's ready and pending endpoints, on /metrics while the target is cached.
    const counted = opts.metrics.balancerEndpoints(authority, held.stack.endpointStates);
    return { stack: held.stack, release: () => (held.release(), profileHeld(), counted()) };
  });

  // What failover watches: a backend's endpoints, asked once when a split is built (not per request).
  const backendEndpoints = (backend: string) => opts.resolver.endpoints(backend);

  // The endpoint tier, per endpoint: connect, mTLS checked against the identity discovery promised, a pool or session (endpoint/connector.ts).
  const endpoint = (ep: Endpoint): Service => opts.endpoints.service(ep);
  // A new endpoint's first connection, opened before the balancer gives it requests.
  const preconnect = opts.endpoints.preconnect?.bind(opts.endpoints);

  async function openTunnel(target: string): Promise<Duplex> {
    const authority = normalizeAuthority(target, 'http');
    if (opts.selfAddresses.has(authority)) throw new ProxyError('LOOP', `tunnel to ${authority} would come back to this proxy`);
    const set = await firstEndpointSet(opts.resolver.endpoints(authority), authority, opts.discoveryTimeoutMs);
    if (set.kind === 'unknown') return opts.endpoints.openTunnel(unmeshed(authority));
    if (set.endpoints.length === 0) throw new ProxyError('NO_ENDPOINTS', `service ${authority} has no endpoints`);
    // Tunnels are long-lived and not request-shaped, so a random pick spreads them well enough.
    return opts.endpoints.openTunnel(set.endpoints[Math.floor(Math.random() * set.endpoints.length)]!);
  }

  async function connectionKind(target: string): Promise<ConnectionKind> {
    const authority = normalizeAuthority(target, 'http');
    const port = portOf(authority);
    if (opts.skipPorts && inPortRanges(port, opts.skipPorts)) return 'skip';
    // The profile's answer is cached by discovery (one watch per authority), so only a
    // connection to a new authority waits, and never longer than the discovery timeout.
    const profile = await opts.resolver.profile(authority).first(opts.discoveryTimeoutMs, `profile for ${authority}`).catch(() => undefined);
    return profile?.opaqueProtocol ? 'opaque' : 'detect';
  }

  return {
    service,
    openTunnel,
    connectionKind,
    openDirect: (target) => opts.endpoints.openTunnel(unmeshed(normalizeAuthority(target, 'http'))),
    close: () => {
      logical.close();
      concrete.close();
    },
  };
}

export interface RouteStackOptions {
  /** The logical target's authority, normalised to `host:port`. */
  authority: string;
  /** The concrete tier: a Service per backend authority. */
  concrete: (authority: string) => Service;
  /** A backend's endpoints from discovery, watched by the split while it lives; enables failover. */
  backendEndpoints?: (authority: string) => Watched<EndpointSet>;
  metrics?: RetryMetrics;
  logger?: Logger;
}

/** The stack of one route of a logical target, outermost layer first (built once per route and profile version). */
export function routeStack(opts: RouteStackOptions): (route: LogicalRoute) => RouteService {
  const { authority, concrete } = opts;
  return ({ policy, label, budget }) => {
    const observed = opts.metrics?.routeLayers?.(authority, policy.name, policy.retry !== undefined);
    // A rule that cannot be served as written (an unsupported filter) answers 500, never the
    // route without the filter (Gateway API); still counted on its route.
    if (policy.failure) return { service: stack(refusedRule(label, policy.failure), ...(observed ? [observed.effective] : [])), release: () => {} };
    const split = policy.backends ? splitService(policy.backends, concrete, label, failover(opts, policy)) : undefined;
    const service = stack(
      // Traffic split: each attempt draws one of an HTTPRoute's backends by weight, else goes to
      // the authority itself; looked up per request, so the concrete cache stays in use order.
      // Failover: a backend without ready endpoints hands its weight to the rule's others.
      split ? split.service : (req) => concrete(authority)(req),
      // Route metrics, effective (route_*): outermost, so each request the app sent counts once,
      // with what the app got back (a route timeout's 504 included), however many attempts it took.
      ...(observed ? [observed.effective] : []),
      // The rule's filters (header modifiers; a redirect answered here), once per request, not per
      // attempt; under route metrics, so a redirect counts on its route.
      ...(policy.filters ? [routeFilterLayer({ filters: policy.filters, pathPrefixes: policy.pathPrefixes ?? [], label })] : []),
      // Whole request, retries and response body included; also enforces ctx.deadline from grpc-timeout.
      timeoutLayer({ ms: policy.requestTimeoutMs, coversBody: true, what: `${label} request timeout` }),
      // Retries of failed attempts, bounded by the target's budget; counted in retry_total.
      ...(policy.retry
        ? [retryLayer({ policy: policy.retry, budget, logger: opts.logger, onRetry: (req) => opts.metrics?.retried({ direction: 'outbound', authority, route: req.ctx.route }) })]
        : []),
      // Route metrics, actual (route_actual_*): below the retries, so every attempt counts. A route
      // without retries has none: its attempts are its requests, and it shares the effective series.
      ...(observed?.actual ? [observed.actual] : []),
      // Each attempt until its response headers; a timed-out attempt is retried when the route allows.
      ...(policy.attemptTimeoutMs > 0 ? [timeoutLayer({ ms: policy.attemptTimeoutMs, coversBody: false, what: `${label} attempt timeout` })] : []),
    );
    return { service, release: () => split?.release() };
  };
}

/** A route's failover (absent when the route turns it off, `failover.linkerd.io/enabled: "false"`): said in a log line and failover_total. */
function failover(opts: RouteStackOptions, policy: RoutePolicy): Failover | undefined {
  const { backendEndpoints, authority } = opts;
  if (!backendEndpoints || policy.failoverDisabled) return undefined;
  return {
    endpoints: backendEndpoints,
    changed: (change) => {
      const { backend, down, weights } = change;
      const shares = weights.map((w) => `${w.authority}=${w.weight}`).join(', ');
      opts.logger?.warn({ authority, route: policy.name, backend, down, weights: shares }, failoverMessage(change));
    },
    weightMoved: (backend, state) => opts.metrics?.failover?.({ authority, backend, state }),
  };
}
