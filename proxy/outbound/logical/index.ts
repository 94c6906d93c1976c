// The logical tier: what the application asked for (an authority), before any endpoint is chosen.
// Per request: match a route of the authority's profile, then that route's own stack (assembled
// in outbound/stack.ts), built once per route and profile version.
import type { Logger } from 'pino';
import type { Profile } from '../../../api/destination-types.ts';
import type { Watched } from '../../discovery/watched.ts';
import type { Service } from '../../http/message.ts';
import { DEFAULT_RETRY_BUDGET, RetryBudget } from './retry-budget.ts';
import { compileRouteTable, type RoutePolicy, type RouteTable } from './route-table.ts';

/** One route of a logical target, as its route stack is built from. */
export interface LogicalRoute {
  policy: RoutePolicy;
  /** `route "<name>"`, or `authority <host:port>` for a profile's catch-all: for error messages. */
  label: string;
  /** The target's retry budget, shared by its routes (SP `retryBudget`, else Linkerd's default). */
  budget: RetryBudget;
}

export interface LogicalTarget {
  /** The authority the application named, normalised to `host:port`. */
  authority: string;
  profile: Watched<Profile>;
  /** Builds the stack of one route: timeouts, retries, split, on to the concrete tier. */
  route: (route: LogicalRoute) => RouteService;
  /** The concrete service (balancer) for the authority itself: requests while it has no profile. */
  concrete: (authority: string) => Service;
  /** Logs rejected profiles and a late first profile. */
  logger?: Logger;
  /** Injectable clock for the retry budget (tests). */
  now?: () => number;
  /**
   * How long an authority's first requests wait for its first profile (default 3 s), so that
   * they already get its routes, timeouts and retries. After that, and while discovery stays
   * silent, requests go on without a profile: its absence must not make the service fail.
   */
  profileTimeoutMs?: number;
}

/** A route's stack, and how to let go of what it holds (its split's discovery watches). */
export interface RouteService {
  service: Service;
  release(): void;
}

/** The logical service, and how to let go of every route stack it built (the target is evicted). */
export interface LogicalService {
  service: Service;
  release(): void;
}

interface Compiled {
  table: RouteTable;
  routes: Map<string, RouteService>;
}

export function createLogicalService(target: LogicalTarget): LogicalService {
  const budget = new RetryBudget(DEFAULT_RETRY_BUDGET, target.now);
  const direct: Service = (req) => target.concrete(target.authority)(req);
  let compiled: Compiled | undefined;
  let seen: Profile | undefined;
  let released = false;

  // Recompiled when the Watched hands a new profile object; a profile that does not compile is
  // refused (logged once) and the last good one stays in force.
  function current(): Compiled | undefined {
    const profile = target.profile.get();
    if (!profile || profile === seen) return compiled;
    seen = profile;
    try {
      const next = { table: compileRouteTable(profile), routes: new Map() };
      // The old version's route stacks are dropped: their watches go with them (requests in
      // flight on them finish with what they hold).
      releaseRoutes(compiled);
      compiled = next;
      budget.configure(profile.retryBudget ?? DEFAULT_RETRY_BUDGET);
    } catch (err) {
      target.logger?.error({ err, authority: target.authority }, `profile for ${target.authority} rejected; keeping the last good one`);
    }
    return compiled;
  }

  // The first profile: requests that arrive before it wait for it (one shared wait, bounded).
  let firstProfile: Promise<void> | undefined;
  let profileLate = false;
  const awaitFirstProfile = (): Promise<void> =>
    (firstProfile ??= target.profile.first(target.profileTimeoutMs ?? 3_000, `profile for ${target.authority}`).then(
      () => {},
      (err: Error) => {
        profileLate = true;
        target.logger?.warn({ authority: target.authority, err: err.message }, `${err.message}; routing ${target.authority} without its routes, timeouts and retries until it comes`);
      },
    ));

  const route: Service = (req) => {
    const table = current();
    if (!table) {
      if (target.profile.get() === undefined && !profileLate) {
        req.ctx.journey?.add('route', `waiting for the first profile of ${target.authority}`);
        return awaitFirstProfile().then(() => route(req));
      }
      req.ctx.journey?.add('route', `no profile for ${target.authority}: no routes, timeouts or retries`);
      return direct(req);
    }
    const policy = table.table.select(req);
    if (policy.name !== undefined) req.ctx.route = policy.name;
    req.ctx.isFailure = policy.isFailure;
    req.ctx.journey?.add('route', policy.name !== undefined ? `route "${policy.name}"` : `no route of ${target.authority} matched: default`);
    let built = table.routes.get(policy.key);
    if (!built) {
      const label = policy.name ? `route "${policy.name}"` : `authority ${target.authority}`;
      built = target.route({ policy, label, budget });
      if (released) {
        // Released while this request waited for the first profile (the target was evicted):
        // nothing would release a cached stack again, so this one serves this request alone.
        const once = built;
        return once.service(req).finally(() => once.release());
      }
      table.routes.set(policy.key, built);
    }
    return built.service(req);
  };
  return {
    service: route,
    release: () => {
      released = true;
      releaseRoutes(compiled);
      compiled = undefined;
      seen = undefined;
    },
  };
}

function releaseRoutes(compiled: Compiled | undefined): void {
  for (const r of compiled?.routes.values() ?? []) r.release();
  compiled?.routes.clear();
}
