// The static file's profile routes, HTTPRoutes and authorizations, in the shapes of api/destination-types.ts,
// checked field by field (regexes compiled, so a bad one is refused at load, not per request).
import type { Authorization, HttpRoute, HttpRouteMatch, HttpRouteRule, ProfileRoute, RequestMatch, ResponseMatch } from '../../api/destination-types.ts';
import type { FieldReader } from './static-fields.ts';

export function readProfileRoutes(r: FieldReader, v: unknown, at: string): ProfileRoute[] {
  return r.array(v, at).map((item, i) => {
    const here = `${at}[${i}]`;
    const o = r.object(item, here);
    r.onlyKeys(o, here, ['name', 'condition', 'responseClasses', 'timeoutMs', 'isRetryable']);
    return {
      name: r.string(o.name, `${here}.name`),
      condition: requestMatch(r, o.condition, `${here}.condition`),
      responseClasses: r.array(o.responseClasses ?? [], `${here}.responseClasses`).map((c, j) => {
        const rc = r.object(c, `${here}.responseClasses[${j}]`);
        return {
          condition: responseMatch(r, rc.condition, `${here}.responseClasses[${j}].condition`),
          isFailure: rc.isFailure === undefined ? false : r.boolean(rc.isFailure, `${here}.responseClasses[${j}].isFailure`),
        };
      }),
      timeoutMs: o.timeoutMs === undefined ? 0 : r.number(o.timeoutMs, `${here}.timeoutMs`, 0, 8.64e7),
      isRetryable: o.isRetryable === undefined ? false : r.boolean(o.isRetryable, `${here}.isRetryable`),
    };
  });
}

function requestMatch(r: FieldReader, v: unknown, at: string): RequestMatch {
  const o = r.object(v, at);
  const keys = Object.keys(o);
  if (keys.length !== 1) r.fail(at, 'expected exactly one of method, pathRegex, all, any, not');
  if ('method' in o) return { method: r.string(o.method, `${at}.method`) };
  if ('pathRegex' in o) return { pathRegex: regex(r, o.pathRegex, `${at}.pathRegex`) };
  if ('all' in o) return { all: r.array(o.all, `${at}.all`).map((m, i) => requestMatch(r, m, `${at}.all[${i}]`)) };
  if ('any' in o) return { any: r.array(o.any, `${at}.any`).map((m, i) => requestMatch(r, m, `${at}.any[${i}]`)) };
  if ('not' in o) return { not: requestMatch(r, o.not, `${at}.not`) };
  return r.fail(`${at}.${keys[0]}`, 'unknown condition (expected method, pathRegex, all, any, not)');
}

function responseMatch(r: FieldReader, v: unknown, at: string): ResponseMatch {
  const o = r.object(v, at);
  if (Object.keys(o).length !== 1) r.fail(at, 'expected exactly one of status, all, any, not');
  if ('status' in o) {
    const s = r.object(o.status, `${at}.status`);
    return { status: { min: r.number(s.min ?? 100, `${at}.status.min`, 100, 599), max: r.number(s.max ?? 599, `${at}.status.max`, 100, 599) } };
  }
  if ('all' in o) return { all: r.array(o.all, `${at}.all`).map((m, i) => responseMatch(r, m, `${at}.all[${i}]`)) };
  if ('any' in o) return { any: r.array(o.any, `${at}.any`).map((m, i) => responseMatch(r, m, `${at}.any[${i}]`)) };
  if ('not' in o) return { not: responseMatch(r, o.not, `${at}.not`) };
  return r.fail(`${at}.${Object.keys(o)[0]}`, 'unknown condition (expected status, all, any, not)');
}

export function readHttpRoutes(r: FieldReader, v: unknown, at: string): HttpRoute[] {
  return r.array(v, at).map((item, i) => {
    const here = `${at}[${i}]`;
    const o = r.object(item, here);
    r.onlyKeys(o, here, ['name', 'rules']);
    return { name: r.string(o.name, `${here}.name`), rules: r.array(o.rules ?? [], `${here}.rules`).map((x, j) => rule(r, x, `${here}.rules[${j}]`)) };
  });
}

function rule(r: FieldReader, v: unknown, at: string): HttpRouteRule {
  const o = r.object(v, at);
  r.onlyKeys(o, at, ['matches', 'backends', 'requestTimeoutMs', 'backendTimeoutMs', 'retry']);
  const out: HttpRouteRule = {
    matches: r.array(o.matches ?? [], `${at}.matches`).map((m, i) => routeMatch(r, m, `${at}.matches[${i}]`)),
    backends: r.array(o.backends ?? [], `${at}.backends`).map((b, i) => {
      const bo = r.object(b, `${at}.backends[${i}]`);
      return { authority: r.authority(r.string(bo.authority, `${at}.backends[${i}].authority`), `${at}.backends[${i}].authority`), weight: bo.weight === undefined ? 1 : r.number(bo.weight, `${at}.backends[${i}].weight`, 0, 1e6) };
    }),
    requestTimeoutMs: o.requestTimeoutMs === undefined ? 0 : r.number(o.requestTimeoutMs, `${at}.requestTimeoutMs`, 0, 8.64e7),
    backendTimeoutMs: o.backendTimeoutMs === undefined ? 0 : r.number(o.backendTimeoutMs, `${at}.backendTimeoutMs`, 0, 8.64e7),
  };
  if (o.retry !== undefined) {
    const re = r.object(o.retry, `${at}.retry`);
    out.retry = {
      httpStatuses: r.array(re.httpStatuses ?? [], `${at}.retry.httpStatuses`).map((s, i) => {
        const so = r.object(s, `${at}.retry.httpStatuses[${i}]`);
        return { min: r.number(so.min, `${at}.retry.httpStatuses[${i}].min`, 100, 599), max: r.number(so.max, `${at}.retry.httpStatuses[${i}].max`, 100, 599) };
      }),
      grpcStatuses: r.strings(re.grpcStatuses ?? [], `${at}.retry.grpcStatuses`),
      limit: re.limit === undefined ? 1 : r.number(re.limit, `${at}.retry.limit`, 0, 100),
      timeoutMs: re.timeoutMs === undefined ? 0 : r.number(re.timeoutMs, `${at}.retry.timeoutMs`, 0, 8.64e7),
    };
  }
  return out;
}

export function routeMatch(r: FieldReader, v: unknown, at: string): HttpRouteMatch {
  const o = r.object(v, at);
  r.onlyKeys(o, at, ['path', 'headers', 'queryParams', 'method']);
  const m: HttpRouteMatch = {};
  if (o.path !== undefined) {
    const p = r.object(o.path, `${at}.path`);
    const type = r.oneOf(p.type ?? 'PathPrefix', `${at}.path.type`, ['Exact', 'PathPrefix', 'RegularExpression'] as const);
    m.path = { type, value: type === 'RegularExpression' ? regex(r, p.value, `${at}.path.value`) : r.string(p.value, `${at}.path.value`) };
  }
  for (const field of ['headers', 'queryParams'] as const) {
    if (o[field] === undefined) continue;
    m[field] = r.array(o[field], `${at}.${field}`).map((h, i) => {
      const here = `${at}.${field}[${i}]`;
      const ho = r.object(h, here);
      const type = r.oneOf(ho.type ?? 'Exact', `${here}.type`, ['Exact', 'RegularExpression'] as const);
      return { name: r.string(ho.name, `${here}.name`), value: type === 'Exact' ? r.string(ho.value, `${here}.value`) : regex(r, ho.value, `${here}.value`), type };
    });
  }
  if (o.method !== undefined) m.method = r.string(o.method, `${at}.method`);
  return m;
}

export function readAuthorizations(r: FieldReader, v: unknown, at: string): Authorization[] {
  return r.array(v, at).map((item, i) => {
    const here = `${at}[${i}]`;
    const o = r.object(item, here);
    r.onlyKeys(o, here, ['name', 'authentication', 'routeMatches']);
    const a = r.object(o.authentication ?? {}, `${here}.authentication`);
    r.onlyKeys(a, `${here}.authentication`, ['unauthenticated', 'identities', 'identitySuffixes', 'networks']);
    const auth: Authorization = {
      name: r.string(o.name, `${here}.name`),
      authentication: {
        unauthenticated: a.unauthenticated === undefined ? false : r.boolean(a.unauthenticated, `${here}.authentication.unauthenticated`),
        identities: r.strings(a.identities ?? [], `${here}.authentication.identities`),
        identitySuffixes: r.strings(a.identitySuffixes ?? [], `${here}.authentication.identitySuffixes`),
        networks: r.cidrs(a.networks ?? [], `${here}.authentication.networks`),
      },
    };
    if (o.routeMatches !== undefined) auth.routeMatches = r.array(o.routeMatches, `${here}.routeMatches`).map((m, j) => routeMatch(r, m, `${here}.routeMatches[${j}]`));
    return auth;
  });
}

function regex(r: FieldReader, v: unknown, at: string): string {
  const s = r.string(v, at);
  try {
    new RegExp(s);
  } catch (err) {
    r.fail(at, `not a valid regular expression: ${(err as Error).message}`);
  }
  return s;
}
