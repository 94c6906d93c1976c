// The concrete tier: one service's endpoints behind one balancer.
// First version: weighted round-robin. (Traffic policy replaces it with power-of-two-choices
// over peak-EWMA latency and failure accrual; the signature stays.)
import type { Endpoint, EndpointSet } from '../../discovery/types.ts';
import type { Watched } from '../../discovery/watched.ts';
import { ProxyError } from '../../errors.ts';
import type { MeshRequest, MeshResponse, Service } from '../../http/message.ts';

export interface BalancerOptions {
  /** The authority being balanced, for error messages. */
  authority: string;
}

/** A Service that sends each request to one endpoint of `endpoints`, via `connect(endpoint)`. */
export function createBalancer(
  endpoints: Watched<EndpointSet>,
  connect: (endpoint: Endpoint) => Service,
  options: BalancerOptions,
): Service {
  let next = 0;
  return async (req: MeshRequest): Promise<MeshResponse> => {
    const set = endpoints.get();
    if (!set || set.kind !== 'endpoints' || set.endpoints.length === 0) {
      throw new ProxyError('NO_ENDPOINTS', `service ${options.authority} has no endpoints`);
    }
    const endpoint = set.endpoints[next++ % set.endpoints.length]!;
    return connect(endpoint)(req);
  };
}
