// The concrete tier for one backend authority: discovery's endpoints behind a balancer, or the
// authority itself when discovery does not know it (not a mesh service: forwarded as named).
import type { Logger } from 'pino';
import type { Endpoint, EndpointSet, Profile } from '../../../api/destination-types.ts';
import type { Watched } from '../../discovery/watched.ts';
import { ProxyError } from '../../errors.ts';
import type { Service, WireProtocol } from '../../http/message.ts';
import { createBalancer, type EndpointStates } from './balancer.ts';

export interface ConcreteTarget {
  /** The backend authority, normalised to `host:port`. */
  authority: string;
  endpoints: Watched<EndpointSet>;
  /** The backend's profile, for its Service's circuit breaker: read as it is, never waited for. */
  profile?: Watched<Profile>;
  /** The endpoint tier: a Service per endpoint. */
  connect: (endpoint: Endpoint) => Service;
  /** The endpoint tier: opens a connection to an endpoint that joins the set before it takes requests. */
  preconnect?: (endpoint: Endpoint, protocol: WireProtocol) => Promise<void>;
  /** How long a request waits for discovery's first answer about the authority. */
  discoveryTimeoutMs: number;
  logger?: Logger;
}

/** The concrete tier's Service, and its balancer's endpoint states (undefined while the authority is no mesh service). */
export type ConcreteService = Service & { endpointStates(): EndpointStates | undefined };

export function createConcreteService(target: ConcreteTarget): ConcreteService {
  const { authority, endpoints } = target;
  const profile = target.profile;
  const balanced = createBalancer(endpoints, target.connect, {
    authority,
    logger: target.logger,
    preconnect: target.preconnect,
    failureAccrual: profile ? () => profile.get()?.failureAccrual : undefined,
  });
  let direct: Service | undefined;
  const pick = (set: EndpointSet): Service => {
    if (set.kind === 'endpoints') return balanced;
    return (direct ??= target.connect(unmeshed(authority)));
  };
  const service: Service = (req) => {
    const set = endpoints.get();
    if (set !== undefined) return pick(set)(req);
    return firstEndpointSet(endpoints, authority, target.discoveryTimeoutMs).then((s) => pick(s)(req));
  };
  const endpointStates = () => (endpoints.get()?.kind === 'endpoints' ? balanced.endpointStates() : undefined);
  return Object.assign(service, { endpointStates });
}

/** Discovery's current answer, waiting (bounded) for the first one. Resolves without a hop when known. */
export function firstEndpointSet(cell: Watched<EndpointSet>, authority: string, timeoutMs: number): Promise<EndpointSet> {
  const now = cell.get();
  if (now !== undefined) return Promise.resolve(now);
  return cell.first(timeoutMs, `endpoints for ${authority}`).catch((err: Error) => {
    throw new ProxyError('UNAVAILABLE', `discovery: ${err.message}`, { cause: err });
  });
}

/** An authority discovery does not know, as an endpoint: dialled as named, no proxy hop, no TLS. */
export function unmeshed(authority: string): Endpoint {
  return { address: authority, weight: 1, labels: {} };
}
