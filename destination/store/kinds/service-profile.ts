// linkerd.io ServiceProfile: per-route conditions, response classes, timeouts, retryability and
// the retry budget, as Linkerd's CRD defines them.
import type { AllOf, CombinedMatch, ProfileRoute, RequestMatch, ResponseMatch, RetryBudget } from '../../../api/destination-types.ts';
import { compiledRegex, durationMs, Fields, FieldError } from '../field-reader.ts';
import type { ServiceProfileResource } from '../resources.ts';
import { checkVersion, readMeta, type ParseContext } from './meta.ts';

export function parseServiceProfile(doc: Fields, ctx: ParseContext): ServiceProfileResource {
  checkVersion(doc, ['linkerd.io/v1alpha2', 'linkerd.io/v1alpha1']);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  let retryBudget = spec.has('retryBudget') ? readBudget(spec.object('retryBudget')) : undefined;
  const routes = spec.list('routes', (raw, path) => {
    const r = Fields.of(raw, path);
    // A retryBudget written inside a route (as the lesson's YAML does) is a spec-level field in
    // Linkerd, where the API server would prune it silently. We apply it to the profile and say so.
    if (r.has('retryBudget')) {
      const misplaced = readBudget(r.object('retryBudget'));
      ctx.warn(r.at('retryBudget'), retryBudget
        ? 'retryBudget belongs at spec.retryBudget; ignored because spec already has one'
        : 'retryBudget belongs at spec.retryBudget; applied as the profile\'s retry budget');
      retryBudget ??= misplaced;
    }
    return readRoute(r);
  });
  const names = new Set<string>();
  routes.forEach((route, i) => {
    if (names.has(route.name)) spec.fail(`routes[${i}].name`, `duplicates route name ${JSON.stringify(route.name)}`);
    names.add(route.name);
  });
  return { kind: 'ServiceProfile', meta, routes, retryBudget };
}

function readRoute(r: Fields): ProfileRoute {
  const name = r.string('name');
  const condition = readRequestMatch(r.object('condition'));
  const responseClasses = r.list('responseClasses', (raw, path) => {
    const rc = Fields.of(raw, path);
    return { condition: readResponseMatch(rc.object('condition')), isFailure: rc.optionalBoolean('isFailure') ?? false };
  });
  const timeoutMs = r.has('timeout') ? durationMs(r.raw['timeout'], r.at('timeout')) : 0;
  return { name, condition, responseClasses, timeoutMs, isRetryable: r.optionalBoolean('isRetryable') ?? false };
}

/**
 * How deep all / any / not may nest. The wire allows 100 nested messages (protobuf's limit, which
 * protobufjs enforces when it encodes); a level of YAML can take four of them (a level with several
 * fields becomes an `all` of them, and each `all` or `any` is two messages), so a deeper condition
 * would be accepted here and then never reach a proxy.
 */
export const MAX_CONDITION_DEPTH = 16;

function readRequestMatch(m: Fields, depth = 0): RequestMatch {
  const parts: RequestMatch[] = [];
  const method = m.optionalString('method');
  if (method !== undefined) {
    if (!/^[A-Z]+$/.test(method)) m.fail('method', `must be an HTTP method in capitals such as GET, got ${JSON.stringify(method)}`);
    parts.push({ method });
  }
  const pathRegex = m.optionalString('pathRegex');
  if (pathRegex !== undefined) parts.push({ pathRegex: compiledRegex(pathRegex, m.at('pathRegex')) });
  return allOfLevel(m, [...parts, ...readCombinedMatch(m, depth, readRequestMatch)], 'method, pathRegex');
}

function readResponseMatch(m: Fields, depth = 0): ResponseMatch {
  const parts: ResponseMatch[] = [];
  const status = m.optionalObject('status');
  if (status) {
    const min = status.optionalInteger('min', 100, 599) ?? 100;
    const max = status.optionalInteger('max', 100, 599) ?? 599;
    if (min > max) status.fail('min', `must not exceed max (${max}), got ${min}`);
    parts.push({ status: { min, max } });
  }
  return allOfLevel(m, [...parts, ...readCombinedMatch(m, depth, readResponseMatch)], 'status');
}

/** A condition's `all`, `any` and `not` fields, whichever it has, each part read by `read` one level deeper. */
function readCombinedMatch<M>(m: Fields, depth: number, read: (part: Fields, depth: number) => M): CombinedMatch<M>[] {
  const parts: CombinedMatch<M>[] = [];
  const nested = ['all', 'any', 'not'].find((key) => m.has(key));
  if (nested !== undefined && depth >= MAX_CONDITION_DEPTH) m.fail(nested, `nests all / any / not more than ${MAX_CONDITION_DEPTH} deep`);
  if (m.has('all')) parts.push({ all: m.list('all', (raw, p) => read(Fields.of(raw, p), depth + 1)) });
  if (m.has('any')) parts.push({ any: m.list('any', (raw, p) => read(Fields.of(raw, p), depth + 1)) });
  if (m.has('not')) parts.push({ not: read(m.object('not'), depth + 1) });
  return parts;
}

/** Several fields at one level all have to hold (Linkerd ANDs them); a level needs one at least. */
function allOfLevel<M>(m: Fields, parts: M[], ownFields: string): M | AllOf<M> {
  if (parts.length === 0) throw new FieldError(m.path, `must have one of ${ownFields}, all, any, not`);
  return parts.length === 1 ? parts[0]! : { all: parts };
}

function readBudget(b: Fields): RetryBudget {
  return {
    retryRatio: b.optionalNumber('retryRatio', 0, 1000) ?? DEFAULT_RETRY_BUDGET.retryRatio,
    minRetriesPerSecond: b.optionalInteger('minRetriesPerSecond', 0, 1_000_000_000) ?? DEFAULT_RETRY_BUDGET.minRetriesPerSecond,
    ttlMs: b.has('ttl') ? durationMs(b.raw['ttl'], b.at('ttl')) : DEFAULT_RETRY_BUDGET.ttlMs,
  };
}

/** Linkerd's budget when a profile names none: 20% extra load, 10 retries a second, over 10 s. */
export const DEFAULT_RETRY_BUDGET: RetryBudget = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };
