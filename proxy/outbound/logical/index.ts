// The logical tier: what the application asked for (an authority), before any endpoint is chosen.
// First version: straight to the concrete service. (Traffic policy adds routes, timeouts,
// retries and splits here; the signature stays.)
import type { Profile } from '../../discovery/types.ts';
import type { Watched } from '../../discovery/watched.ts';
import type { Service } from '../../http/message.ts';

export interface LogicalTarget {
  /** The authority the application named, normalised to `host:port`. */
  authority: string;
  profile: Watched<Profile>;
  /** The concrete service (balancer) for an authority: the target itself, or a split backend. */
  concrete: (authority: string) => Service;
}

export function createLogicalService(target: LogicalTarget): Service {
  const concrete = target.concrete(target.authority);
  return (req) => concrete(req);
}
