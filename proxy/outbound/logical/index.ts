// The logical tier: what the application asked for (an authority), before any endpoint is chosen.
// Per request: match a route, then route timeout -> retries -> per-attempt timeout -> traffic
// split -> the concrete tier (balancer). One stack is built per route and profile version.
import type { Logger } from 'pino';
import type { Profile } from '../../../api/destination-types.ts';
import type { Watched } from '../../discovery/watched.ts';
import { stack, type Layer, type Service } from '../../http/message.ts';
import { splitService } from './backend-split.ts';
import { retryLayer } from './retry.ts';
import { DEFAULT_RETRY_BUDGET, RetryBudget } from './retry-budget.ts';
import { compileRouteTable, type RoutePolicy, type RouteTable } from './route-table.ts';
import { timeoutLayer } from './timeout.ts';

/** What the logical tier reports; proxy/metrics' ProxyMetrics fits this shape. */
export interface RetryMetrics {
  retried(labels: { direction: 'inbound' | 'outbound'; authority: string; route?: string }): void;
}

export interface LogicalTarget {
  /** The authority the application named, normalised to `host:port`. */
  authority: string;
  profile: Watched<Profile>;
  /** The concrete service (balancer) for an authority: the target itself, or a split backend. */
  concrete: (authority: string) => Service;
  /** Counts retries. */
  metrics?: RetryMetrics;
  /** Logs rejected profiles and (at debug) retry decisions. */
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

interface Compiled {
  table: RouteTable;
  routes: Map<string, Service>;
}

export function createLogicalService(target: LogicalTarget): Service {
  const budget = new RetryBudget(DEFAULT_RETRY_BUDGET, target.now);
  const direct: Service = (req) => target.concrete(target.authority)(req);
  let compiled: Compiled | undefined;
  let seen: Profile | undefined;

  // Recompiled when the Watched hands a new profile object; a profile that does not compile is
  // refused (logged once) and the last good one stays in force.
  function current(): Compiled | undefined {
    const profile = target.profile.get();
    if (!profile || profile === seen) return compiled;
    seen = profile;
    try {
      compiled = { table: compileRouteTable(profile), routes: new Map() };
      budget.configure(profile.retryBudget ?? DEFAULT_RETRY_BUDGET);
    } catch (err) {
      target.logger?.error({ err, authority: target.authority }, `profile for ${target.authority} rejected; keeping the last good one`);
    }
    return compiled;
  }

  function buildRoute(policy: RoutePolicy): Service {
    const label = policy.name ? `route "${policy.name}"` : `authority ${target.authority}`;
    const layers: Layer[] = [
      // Whole request, retries and body included; also enforces ctx.deadline from grpc-timeout.
      timeoutLayer({ ms: policy.requestTimeoutMs, coversBody: true, what: `${label} request timeout` }),
    ];
    if (policy.retry) {
      layers.push(
        retryLayer({
          policy: policy.retry,
          budget,
          logger: target.logger,
          onRetry: (req) =>
            target.metrics?.retried({ direction: 'outbound', authority: target.authority, route: req.ctx.route }),
        }),
      );
    }
    if (policy.attemptTimeoutMs > 0) {
      // Each attempt until its response headers; a retry follows when the route allows.
      layers.push(timeoutLayer({ ms: policy.attemptTimeoutMs, coversBody: false, what: `${label} attempt timeout` }));
    }
    const backend = policy.backends ? splitService(policy.backends, target.concrete, label) : direct;
    return stack(backend, ...layers);
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
    let svc = table.routes.get(policy.key);
    if (!svc) {
      svc = buildRoute(policy);
      table.routes.set(policy.key, svc);
    }
    return svc(req);
  };
  return route;
}
