// One profile version compiled into the policy each request gets: the ServiceProfile route
// (name, response classes, timeout, retryability) merged with the HTTPRoute rule (backends,
// timeouts, retry annotations) that matches it.
import type { HttpRouteFilter, HttpRouteRetry, Profile, WeightedBackend } from '../../../api/destination-types.ts';
import { compareRank, compileMatch, type CompiledMatch, type MatchableRequest } from '../../http/route-match.ts';
import { compileProfileRoute, defaultIsFailure, type CompiledProfileRoute, type FailureClassifier } from './service-profile.ts';

/** What the route, timeout and retry layers need to know about one request. */
export interface RoutePolicy {
  /** Identifies the (ServiceProfile route, HTTPRoute rule) pair: one built stack per key. */
  key: string;
  /** The route label for metrics: the ServiceProfile route name, else the HTTPRoute's name (`#<rule index>` when it has several rules). */
  name?: string;
  isFailure: FailureClassifier;
  /** Whole request, retries and response body included; 0 = none. */
  requestTimeoutMs: number;
  /** Each attempt, until response headers; 0 = none. */
  attemptTimeoutMs: number;
  retry?: RetryPolicy;
  /** Weighted backends of the matched HTTPRoute rule; absent: the logical authority itself. */
  backends?: WeightedBackend[];
  /** The route's failover is off (`failover.linkerd.io/enabled: "false"`). */
  failoverDisabled?: boolean;
  /** The matched HTTPRoute rule's filters, in order (header modifiers, redirect). */
  filters?: HttpRouteFilter[];
  /** The rule's PathPrefix match values: the prefix a ReplacePrefixMatch redirect replaces. */
  pathPrefixes?: string[];
  /** Set when the rule cannot be served as written (an unsupported filter): its requests are answered 500 with this. */
  failure?: string;
}

export interface RetryPolicy {
  /** Most retries after the first attempt. */
  limit: number;
  shouldRetry(status: number, grpcStatus: number | undefined): boolean;
}

/** ServiceProfile retries are bounded by the budget; this cap stops one request draining it. */
export const PROFILE_RETRY_LIMIT = 10;

const GRPC_CODES: Record<string, number> = {
  'cancelled': 1, 'unknown': 2, 'invalid-argument': 3, 'deadline-exceeded': 4, 'not-found': 5,
  'already-exists': 6, 'permission-denied': 7, 'resource-exhausted': 8, 'failed-precondition': 9,
  'aborted': 10, 'out-of-range': 11, 'unimplemented': 12, 'internal': 13, 'unavailable': 14,
  'data-loss': 15, 'unauthenticated': 16,
};

/** `retry.linkerd.io/grpc` names (`unavailable`, `DEADLINE_EXCEEDED`) as numeric codes. */
export function grpcCode(name: string): number | undefined {
  return GRPC_CODES[name.trim().toLowerCase().replaceAll('_', '-')];
}

function annotationRetry(retry: HttpRouteRetry): RetryPolicy {
  const grpc = new Set(retry.grpcStatuses.map(grpcCode).filter((c): c is number => c !== undefined));
  return {
    limit: retry.limit,
    shouldRetry: (status, grpcStatus) =>
      grpcStatus !== undefined && grpcStatus !== 0
        ? grpc.has(grpcStatus)
        : retry.httpStatuses.some((r) => status >= r.min && status <= r.max),
  };
}

interface CompiledRule {
  routeName: string;
  ruleIndex: number;
  matches: CompiledMatch[];
  rule: Profile['httpRoutes'][number]['rules'][number];
  pathPrefixes: string[];
}

export interface RouteTable {
  select(req: MatchableRequest): RoutePolicy;
}

/** Throws (naming the route and field) if any regex or condition does not compile. */
export function compileRouteTable(profile: Profile): RouteTable {
  const spRoutes: CompiledProfileRoute[] = profile.routes.map((r, i) =>
    compileProfileRoute(r, `ServiceProfile ${profile.fqdn} routes[${i}] (${r.name})`),
  );
  const rules: CompiledRule[] = [];
  for (const route of profile.httpRoutes) {
    route.rules.forEach((rule, ruleIndex) => {
      // A rule with no matches matches everything, as a `/` prefix does.
      const list = rule.matches.length > 0 ? rule.matches : [{}];
      const matches = list.map((m, i) => compileMatch(m, `HTTPRoute ${route.name} rules[${ruleIndex}].matches[${i}]`));
      // The route label names the rule: the HTTPRoute's name, with `#<index>` when it has several
      // rules (they differ in backends and timeouts, so their metrics are kept apart).
      const routeName = route.rules.length > 1 ? `${route.name}#${ruleIndex}` : route.name;
      const pathPrefixes = rule.matches.flatMap((m) => (m.path?.type === 'PathPrefix' ? [m.path.value] : []));
      rules.push({ routeName, ruleIndex, matches, rule, pathPrefixes });
    });
  }

  if (spRoutes.length === 0 && rules.length === 0) {
    // No routes (most services have no profile): every request gets the same default policy,
    // so it is made once here rather than per request (two arrays, a key string, an object).
    const only: RoutePolicy = { key: '-/-', name: undefined, isFailure: defaultIsFailure, requestTimeoutMs: 0, attemptTimeoutMs: 0, retry: undefined, backends: undefined };
    return { select: () => only };
  }

  function selectRule(req: MatchableRequest): CompiledRule | undefined {
    // Most specific match wins; ties keep the earlier route and rule (routes arrive ordered).
    let best: { rule: CompiledRule; rank: readonly number[] } | undefined;
    for (const rule of rules) {
      for (const m of rule.matches) {
        if (m.test(req) && (!best || compareRank(m.rank, best.rank) > 0)) best = { rule, rank: m.rank };
      }
    }
    return best?.rule;
  }

  return {
    select(req) {
      const sp = spRoutes.find((r) => r.matches(req)); // ServiceProfile: first matching route
      const rule = selectRule(req);
      const timeouts = [sp?.route.timeoutMs ?? 0, rule?.rule.requestTimeoutMs ?? 0].filter((t) => t > 0);
      const attempt = [rule?.rule.backendTimeoutMs ?? 0, rule?.rule.retry?.timeoutMs ?? 0].filter((t) => t > 0);
      const isFailure = sp?.isFailure ?? defaultIsFailure;
      let retry: RetryPolicy | undefined;
      if (rule?.rule.retry) retry = annotationRetry(rule.rule.retry);
      else if (sp?.route.isRetryable) retry = { limit: PROFILE_RETRY_LIMIT, shouldRetry: isFailure };
      return {
        key: `${sp ? spRoutes.indexOf(sp) : '-'}/${rule ? rules.indexOf(rule) : '-'}`,
        name: sp?.route.name ?? rule?.routeName,
        isFailure,
        requestTimeoutMs: timeouts.length > 0 ? Math.min(...timeouts) : 0,
        attemptTimeoutMs: attempt.length > 0 ? Math.min(...attempt) : 0,
        retry,
        backends: rule?.rule.backends,
        failoverDisabled: rule?.rule.failoverDisabled,
        filters: rule?.rule.filters,
        pathPrefixes: rule?.pathPrefixes,
        failure: rule?.rule.failure,
      };
    },
  };
}
