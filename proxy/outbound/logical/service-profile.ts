// ServiceProfile routes compiled once per profile: request conditions (method, anchored path
// regex, all/any/not) and response classes that decide what counts as a failure.
import type { ProfileRoute, RequestMatch, ResponseMatch } from '../../../api/destination-types.ts';
import { anchoredRegex, splitPath, type MatchableRequest } from '../../http/route-match.ts';

export type FailureClassifier = (status: number, grpcStatus: number | undefined) => boolean;

/** Without response classes: a 5xx, or a gRPC status other than OK, is a failure. */
export const defaultIsFailure: FailureClassifier = (status, grpcStatus) =>
  status >= 500 || (grpcStatus !== undefined && grpcStatus !== 0);

export interface CompiledProfileRoute {
  route: ProfileRoute;
  matches(req: MatchableRequest): boolean;
  isFailure: FailureClassifier;
}

type RequestTest = (method: string, pathOnly: string) => boolean;

function compileRequest(m: RequestMatch, where: string): RequestTest {
  if ('method' in m) {
    const method = m.method.toUpperCase();
    return (reqMethod) => reqMethod.toUpperCase() === method;
  }
  // Linkerd anchors pathRegex: `/orders` matches `/orders` only, never `/orders/7`.
  if ('pathRegex' in m) {
    const re = anchoredRegex(m.pathRegex, `${where}.pathRegex`);
    return (_m, path) => re.test(path);
  }
  if ('all' in m) {
    const parts = m.all.map((c, i) => compileRequest(c, `${where}.all[${i}]`));
    return (method, path) => parts.every((p) => p(method, path));
  }
  if ('any' in m) {
    const parts = m.any.map((c, i) => compileRequest(c, `${where}.any[${i}]`));
    return (method, path) => parts.some((p) => p(method, path));
  }
  if ('not' in m) {
    const inner = compileRequest(m.not, `${where}.not`);
    return (method, path) => !inner(method, path);
  }
  throw new Error(`${where}: empty request condition`);
}

type ResponseTest = (status: number) => boolean;

function compileResponse(m: ResponseMatch, where: string): ResponseTest {
  if ('status' in m) {
    const { min, max } = m.status;
    return (status) => status >= min && status <= max;
  }
  if ('all' in m) {
    const parts = m.all.map((c, i) => compileResponse(c, `${where}.all[${i}]`));
    return (s) => parts.every((p) => p(s));
  }
  if ('any' in m) {
    const parts = m.any.map((c, i) => compileResponse(c, `${where}.any[${i}]`));
    return (s) => parts.some((p) => p(s));
  }
  if ('not' in m) {
    const inner = compileResponse(m.not, `${where}.not`);
    return (s) => !inner(s);
  }
  throw new Error(`${where}: empty response condition`);
}

/** Throws, naming the route and field, when a condition does not compile. */
export function compileProfileRoute(route: ProfileRoute, where: string): CompiledProfileRoute {
  const test = compileRequest(route.condition, `${where}.condition`);
  const classes = route.responseClasses.map((rc, i) => ({
    test: compileResponse(rc.condition, `${where}.responseClasses[${i}].condition`),
    isFailure: rc.isFailure,
  }));
  const isFailure: FailureClassifier = (status, grpcStatus) => {
    // The first class that matches decides; gRPC statuses still fail an HTTP 200 (Linkerd's default).
    for (const c of classes) if (c.test(status)) return c.isFailure;
    return defaultIsFailure(status, grpcStatus);
  };
  return {
    route,
    isFailure,
    matches: (req) => test(req.method, splitPath(req.path).pathOnly),
  };
}
