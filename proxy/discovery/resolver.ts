// The proxy's discovery port: what its outbound and inbound sides ask, answered as live cells.
import type { EndpointSet, InboundPolicy, Profile } from '../../api/destination-types.ts';
import type { Watched } from './watched.ts';

/**
 * Where outbound sends and what inbound allows. Implemented by the destination client
 * (proxy/discovery/destination-client.ts) and by development mode (proxy/discovery/dev-resolver.ts).
 * Each call returns a live cell; repeated calls for the same key share one watch.
 */
export interface Resolver {
  endpoints(authority: string): Watched<EndpointSet>;
  /** Resolves to a profile with no routes for authorities that have none. */
  profile(authority: string): Watched<Profile>;
  inboundPolicy(port: number): Watched<InboundPolicy>;
  /** Leaves the endpoints of this pod's Services (graceful shutdown); watches stay. Absent: nothing to leave. */
  deregister?(): void;
  close(): void;
}
