// The inbound stack (mesh -> app), assembled top to bottom: what a request meets between the
// inbound listener and the app on the pod address, one layer per line with the reason.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ProxyError } from '../errors.ts';
import { headerValue, stack, type Layer, type Service } from '../http/message.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import type { EndpointClients } from '../outbound/endpoint-clients.ts';

export interface InboundStackOptions {
  /** The pod address the app listens on. */
  podIp: string;
  /** The app port for requests that do not name one in `l5d-dst-port` (clients outside the mesh). */
  defaultAppPort?: number;
  /** Plaintext clients to the app (the same endpoint code as outbound, no inbound hop, no TLS). */
  app: EndpointClients;
  metrics: ProxyMetrics;
  logger: Logger;
  /** Policy: a Layer that refuses callers the pod's Server/authorizations do not allow. */
  authorize?: Layer;
}

export interface InboundStack {
  service: Service;
  /** Raw bytes to the app's `port` (opaque transport, WebSocket). */
  openTunnel(port: number): Promise<Duplex>;
}

export function buildInboundStack(opts: InboundStackOptions): InboundStack {
  const appPorts = new Map<number, Service>();
  const appAt = (port: number): Service => {
    let svc = appPorts.get(port);
    if (!svc) {
      svc = opts.app.service({ address: hostPort(opts.podIp, port), weight: 1, labels: {} });
      appPorts.set(port, svc);
    }
    return svc;
  };

  const toApp: Service = (req) => {
    const port = targetPort(headerValue(req.headers, 'l5d-dst-port'), opts.defaultAppPort);
    delete req.headers['l5d-dst-port'];
    return appAt(port)(req);
  };

  const service = stack(
    toApp,
    // Golden metrics first, so refusals by policy and failures to reach the app are counted too.
    opts.metrics.requestLayer(),
    // POLICY SLOT (the lead wires proxy/inbound/authorize.ts here): refuse before the app sees anything.
    ...(opts.authorize ? [opts.authorize] : []),
    // The app learns who called from `l5d-client-id`, which only this proxy may set.
    clientIdHeader,
  );

  return {
    service,
    openTunnel: (port) => opts.app.openTunnel({ address: hostPort(opts.podIp, port), weight: 1, labels: {} }),
  };
}

/** Replaces any `l5d-client-id` the caller sent with the identity its certificate proved. */
const clientIdHeader: Layer = (inner) => (req) => {
  delete req.headers['l5d-client-id'];
  if (req.ctx.clientIdentity) req.headers['l5d-client-id'] = req.ctx.clientIdentity;
  return inner(req);
};

export function targetPort(header: string | undefined, defaultPort: number | undefined): number {
  if (header === undefined) {
    if (defaultPort === undefined) throw new ProxyError('BAD_REQUEST', 'request names no l5d-dst-port and the proxy has no default app port');
    return defaultPort;
  }
  const port = /^\d{1,5}$/.test(header) ? Number(header) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ProxyError('BAD_REQUEST', `l5d-dst-port "${header.slice(0, 20)}" is not a port`);
  return port;
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
