// Gateway API HTTPRoute matching (path, headers, query params, method) and its precedence order,
// shared by outbound traffic splits and inbound route-scoped authorization.
import type { HttpRouteMatch } from '../../api/destination-types.ts';
import { headerValue, type HeaderMap } from './message.ts';
import { codedError } from '../../api/errors.ts';

/** The parts of a request a match looks at. */
export interface MatchableRequest {
  method: string;
  /** Origin-form path, query included. */
  path: string;
  headers: HeaderMap;
}

/** A match with its regular expressions compiled once, and its rank for precedence. */
export interface CompiledMatch {
  test(req: MatchableRequest): boolean;
  /** Higher wins: compare element by element (Gateway API "most specific match"). */
  readonly rank: readonly number[];
}

export class RouteMatchError extends codedError('INVALID_ROUTE_MATCH') {}

/** Compiles `source` as a regex that must match the whole input, as Gateway API and Linkerd do. */
export function anchoredRegex(source: string, where: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw new RouteMatchError(`${where}: regular expression ${JSON.stringify(source)} does not compile: ${(err as Error).message}`, { cause: err });
  }
}

export function splitPath(path: string): { pathOnly: string; query: URLSearchParams } {
  const q = path.indexOf('?');
  if (q < 0) return { pathOnly: path, query: new URLSearchParams() };
  return { pathOnly: path.slice(0, q), query: new URLSearchParams(path.slice(q + 1)) };
}

// Path kinds rank Exact > RegularExpression > PathPrefix, then by the length of the value,
// as linkerd2-proxy orders them; the Gateway API leaves regex precedence to implementations.
const PATH_KIND_RANK = { Exact: 3, RegularExpression: 2, PathPrefix: 1 } as const;

export function compileMatch(match: HttpRouteMatch, where: string): CompiledMatch {
  const tests: Array<(req: MatchableRequest, pathOnly: string, query: URLSearchParams) => boolean> = [];
  let pathRank = [PATH_KIND_RANK.PathPrefix, 1]; // no path: prefix `/`
  if (match.path) {
    const { type, value } = match.path;
    if (type === 'Exact') {
      tests.push((_r, p) => p === value);
    } else if (type === 'PathPrefix') {
      // Element-wise: `/foo` matches `/foo` and `/foo/bar`, never `/foobar`.
      const prefix = value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
      tests.push((_r, p) => prefix === '/' || p === prefix || p.startsWith(`${prefix}/`));
    } else if (type === 'RegularExpression') {
      const re = anchoredRegex(value, `${where}.path`);
      tests.push((_r, p) => re.test(p));
    } else {
      throw new RouteMatchError(`${where}.path.type: unknown path match type ${JSON.stringify(type)}`);
    }
    pathRank = [PATH_KIND_RANK[type], value.length];
  }
  if (match.method) {
    const method = match.method.toUpperCase();
    tests.push((r) => r.method.toUpperCase() === method);
  }
  for (const [i, h] of (match.headers ?? []).entries()) {
    const name = h.name.toLowerCase();
    const re = h.type === 'RegularExpression' ? anchoredRegex(h.value, `${where}.headers[${i}]`) : undefined;
    tests.push((r) => {
      const v = headerValue(r.headers, name);
      return v !== undefined && (re ? re.test(v) : v === h.value);
    });
  }
  for (const [i, q] of (match.queryParams ?? []).entries()) {
    const re = q.type === 'RegularExpression' ? anchoredRegex(q.value, `${where}.queryParams[${i}]`) : undefined;
    tests.push((_r, _p, query) => {
      const v = query.get(q.name);
      return v !== null && (re ? re.test(v) : v === q.value);
    });
  }
  const rank = [...pathRank, match.method ? 1 : 0, match.headers?.length ?? 0, match.queryParams?.length ?? 0];
  return {
    rank,
    test(req) {
      const { pathOnly, query } = splitPath(req.path);
      return tests.every((t) => t(req, pathOnly, query));
    },
  };
}

/** Positive when `a` is more specific than `b`. */
export function compareRank(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
