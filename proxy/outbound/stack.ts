// The outbound stack (app -> mesh), assembled top to bottom: what a request meets on its way
// from the outbound listener to another pod's proxy, one layer per line with the reason.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint, EndpointSet } from '../../api/destination-types.ts';
import type { Resolver } from '../discovery/resolver.ts';
import type { Watched } from '../discovery/watched.ts';
import { ProxyError } from '../errors.ts';
import { stack, type Layer, type Service } from '../http/message.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import { createBalancer } from './concrete/balancer.ts';
import type { EndpointClients } from './endpoint-clients.ts';
import { ingressRouting } from './ingress.ts';
import { createLogicalService } from './logical/index.ts';
import { lastAuthorityMemo, normalizeAuthority, TargetCache } from './targets.ts';
import { WatchHolds } from './watch-holds.ts';

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
}

export interface OutboundStack {
  service: Service;
  /** Raw bytes to what `target` (`host:port`) resolves to: CONNECT, opaque TCP, WebSocket. */
  openTunnel(target: string): Promise<Duplex>;
  /** Releases the discovery watches held for cached targets. */
  close(): void;
}

export function buildOutboundStack(opts: OutboundStackOptions): OutboundStack {
  const endpointsOf = (authority: string) => endpointSet(opts.resolver.endpoints(authority), authority, opts.discoveryTimeoutMs);

  const concreteHolds = new WatchHolds(opts.maxTargets);
  const logicalHolds = new WatchHolds(opts.maxTargets);

  // The concrete tier, per backend authority: discovery's endpoints behind a balancer, or the
  // authority itself when discovery does not know it (not a mesh service: forwarded as named).
  const concrete = new TargetCache<Service>(opts.maxTargets, (authority) => {
    concreteHolds.hold(authority, opts.resolver.endpoints(authority));
    const balanced = createBalancer(opts.resolver.endpoints(authority), (ep) => opts.endpoints.service(ep), { authority, logger: opts.logger });
    let direct: Service | undefined;
    const pick = (set: EndpointSet): Service => {
      if (set.kind === 'endpoints') return balanced;
      return (direct ??= opts.endpoints.service(unmeshed(authority)));
    };
    const cell = opts.resolver.endpoints(authority);
    return (req) => {
      const set = cell.get();
      if (set !== undefined) return pick(set)(req);
      return endpointsOf(authority).then((s) => pick(s)(req));
    };
  });

  // The logical tier, per authority the app named: routes, timeouts (and grpc-timeout), retries, splits.
  const logical = new TargetCache<Service>(opts.maxTargets, (authority) => {
    const profile = opts.resolver.profile(authority);
    logicalHolds.hold(authority, profile);
    return createLogicalService({
      authority,
      profile,
      concrete: (backend) => {
        concreteHolds.touch(backend);
        return concrete.get(backend);
      },
      metrics: opts.metrics,
      logger: opts.logger,
      profileTimeoutMs: opts.discoveryTimeoutMs,
    });
  });

  const normalize = lastAuthorityMemo();
  const router: Service = (req) => {
    const authority = normalize(req.authority, req.scheme);
    if (opts.selfAddresses.has(authority)) throw new ProxyError('LOOP', `request to ${authority} would come back to this proxy`);
    logicalHolds.touch(authority);
    return logical.get(authority)(req);
  };

  const service = stack(
    router,
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

  async function openTunnel(target: string): Promise<Duplex> {
    const authority = normalizeAuthority(target, 'http');
    if (opts.selfAddresses.has(authority)) throw new ProxyError('LOOP', `tunnel to ${authority} would come back to this proxy`);
    const set = await endpointsOf(authority);
    if (set.kind === 'unknown') return opts.endpoints.openTunnel(unmeshed(authority));
    if (set.endpoints.length === 0) throw new ProxyError('NO_ENDPOINTS', `service ${authority} has no endpoints`);
    // Tunnels are long-lived and not request-shaped, so a random pick spreads them well enough.
    return opts.endpoints.openTunnel(set.endpoints[Math.floor(Math.random() * set.endpoints.length)]!);
  }

  return {
    service,
    openTunnel,
    close: () => {
      concreteHolds.close();
      logicalHolds.close();
    },
  };
}

/** Discovery's current answer, waiting (bounded) for the first one. Resolves without a hop when known. */
function endpointSet(cell: Watched<EndpointSet>, authority: string, timeoutMs: number): Promise<EndpointSet> {
  const now = cell.get();
  if (now !== undefined) return Promise.resolve(now);
  return cell.first(timeoutMs, `endpoints for ${authority}`).catch((err: Error) => {
    throw new ProxyError('UNAVAILABLE', `discovery: ${err.message}`, { cause: err });
  });
}

function unmeshed(authority: string): Endpoint {
  return { address: authority, weight: 1, labels: {} };
}
