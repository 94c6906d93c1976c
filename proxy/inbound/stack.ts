// The inbound stack (mesh -> app), assembled top to bottom: what a request meets between the
// inbound listener and the app on the pod address, one layer per line with the reason.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { joinHostPort } from '../../api/host-port.ts';
import { ProxyError } from '../errors.ts';
import { headerValue, stack, withoutHeader, type HeaderMap, type Layer, type MeshRequest, type Service } from '../http/message.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import type { EndpointClients } from '../outbound/endpoint-clients.ts';
import { appProtocolLayer } from './app-protocol.ts';
import { authorizePorts } from './authorize.ts';
import type { InboundPolicySource } from './policy-source.ts';
import { TunnelAuthorizer, type TunnelCaller } from './tunnel-authz.ts';

export interface InboundStackOptions {
  /** The pod address the app listens on. */
  podIp: string;
  /** The app port for requests that do not name one in `l5d-dst-port` (clients outside the mesh). */
  defaultAppPort?: number;
  /** Plaintext clients to the app (the same endpoint code as outbound, no inbound hop, no TLS). */
  app: EndpointClients;
  metrics: ProxyMetrics;
  logger: Logger;
  /**
   * Policy per app port (the resolver's Server/authorizations or default policy). Absent: every
   * caller is admitted (tests of the data path alone).
   */
  policy?: InboundPolicySource;
  /** How long an opaque connection waits for its port's first policy before it is refused. */
  policyTimeoutMs?: number;
  /** Replaces the policy layer built from `policy` (tests of a layer against a fake policy). */
  authorize?: Layer;
  /**
   * This proxy's own ports on the pod address. A caller naming one in `l5d-dst-port` would reach
   * the proxy instead of the app: a loop, or the admin's local-only `POST /shutdown` from outside.
   */
  proxyPorts?: ReadonlySet<number>;
  /** Reports requests to open taps (proxy/tap/); one field check when nobody taps. */
  tap?: Layer;
}

export interface InboundStack {
  service: Service;
  /**
   * Raw bytes to the app's `port` (opaque transport, WebSocket), once policy admits `caller`;
   * a refusal rejects with ProxyError FORBIDDEN (logged and counted) and the caller is closed.
   */
  openTunnel(port: number, caller: TunnelCaller): Promise<Duplex>;
  /** Whether the app's `port` is opaque now (its Server says `proxyProtocol: opaque`): asked before sniffing a redirected connection. */
  opaquePort(port: number): boolean;
}

export function buildInboundStack(opts: InboundStackOptions): InboundStack {
  const appPorts = new Map<number, Service>();
  const appAt = (port: number): Service => {
    let svc = appPorts.get(port);
    if (!svc) {
      svc = opts.app.service({ address: joinHostPort(opts.podIp, port), weight: 1, labels: {} });
      appPorts.set(port, svc);
    }
    return svc;
  };

  // Set by `appPortLayer` before any layer that asks.
  const portOf = (req: MeshRequest): number => req.ctx.targetPort!;
  const toApp: Service = (req) => appAt(portOf(req))(req);
  const policy = opts.policy;
  const authorize =
    opts.authorize ??
    (policy
      ? authorizePorts((port) => policy.policyFor(port), portOf, { registry: opts.metrics.registry, logger: opts.logger, podIp: opts.podIp, firstPolicyTimeoutMs: opts.policyTimeoutMs ?? 3_000 })
      : undefined);
  const tunnels = policy ? new TunnelAuthorizer(policy, { registry: opts.metrics.registry, logger: opts.logger, timeoutMs: opts.policyTimeoutMs ?? 3_000 }) : undefined;

  const service = stack(
    toApp,
    // Golden metrics first, so refusals by policy and failures to reach the app are counted too.
    opts.metrics.requestLayer(),
    // Which app port the request is for, decided once (policy and tap read it): `l5d-dst-port`
    // from another proxy, else the port a redirected connection was sent to, else the default app
    // port; never one of this proxy's own ports.
    appPortLayer(opts.defaultAppPort, opts.proxyPorts),
    // Tap next, so refusals by policy are reported too, with the journey of the decisions below.
    ...(opts.tap ? [opts.tap] : []),
    // Policy: the port's Server and its authorizations (or the default policy) refuse a caller
    // before the app sees anything; the decision is read live, so policy edits apply at once. A
    // port's first requests wait (bounded) for its first policy rather than being refused. The
    // policy that admitted a request rides on it (ctx.inboundPolicy) to the layers below.
    ...(authorize ? [authorize] : []),
    // The app learns who called from `l5d-client-id`, which only this proxy may set.
    clientIdHeader,
    // The app's own HTTP version, when a Service port's appProtocol declares it: read from the
    // policy that admitted the request (below policy: a refused request is never translated).
    ...(policy ? [appProtocolLayer] : []),
  );

  return {
    service,
    openTunnel: async (port, caller) => {
      // Opaque bytes have no request to refuse: the connection is checked once, before the app is dialled.
      refuseProxyPort(port, opts.proxyPorts);
      if (tunnels) await tunnels.check(port, caller);
      return opts.app.openTunnel({ address: joinHostPort(opts.podIp, port), weight: 1, labels: {} });
    },
    // The policy as last received (a port is watched from its first request on): no wait here.
    opaquePort: (port) => opts.policy?.policyFor(port).get()?.server?.protocol === 'opaque',
  };
}

/** Sets `ctx.targetPort` from `l5d-dst-port` (which the app must not see), the port a redirected connection was sent to, or the default port. */
function appPortLayer(defaultPort: number | undefined, proxyPorts: ReadonlySet<number> | undefined): Layer {
  return (inner) => (req) => {
    try {
      // A redirected connection's own port comes before the configured default: it is what the caller dialled.
      const port = targetPort(headerValue(req.headers, 'l5d-dst-port'), req.ctx.originalDstPort ?? defaultPort);
      refuseProxyPort(port, proxyPorts);
      req.ctx.targetPort = port;
    } catch (err) {
      return Promise.reject(err);
    }
    req.headers = withoutHeader(req.headers, 'l5d-dst-port');
    return inner(req);
  };
}

/**
 * Replaces any `l5d-client-id` the caller sent with the identity its certificate proved, and drops
 * one the caller put in its trailers: the app reads who called from the proxy alone.
 */
const clientIdHeader: Layer = (inner) => (req) => {
  const headers = withoutHeader(req.headers, 'l5d-client-id');
  if (req.ctx.clientIdentity) headers['l5d-client-id'] = req.ctx.clientIdentity;
  req.headers = headers;
  if (req.trailers) req.trailers = withoutClientId(req.trailers);
  return inner(req);
};

function withoutClientId(trailers: Promise<HeaderMap | undefined>): Promise<HeaderMap | undefined> {
  const cleaned = trailers.then((t) => (t && t['l5d-client-id'] !== undefined ? withoutHeader(t, 'l5d-client-id') : t));
  // A reader of the trailers gets any failure; with none (a body sent with a length), it is not unhandled.
  cleaned.catch(() => {});
  return cleaned;
}

function refuseProxyPort(port: number, proxyPorts: ReadonlySet<number> | undefined): void {
  if (proxyPorts?.has(port)) throw new ProxyError('FORBIDDEN', `port ${port} is this proxy's own, not the app's: the inbound proxy forwards only to the app`);
}

export function targetPort(header: string | undefined, defaultPort: number | undefined): number {
  if (header === undefined) {
    if (defaultPort === undefined) throw new ProxyError('BAD_REQUEST', 'request names no l5d-dst-port and the proxy has no default app port');
    return defaultPort;
  }
  const port = /^\d{1,5}$/.test(header) ? Number(header) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ProxyError('BAD_REQUEST', `l5d-dst-port "${header.slice(0, 20)}" is not a port`);
  return port;
}
