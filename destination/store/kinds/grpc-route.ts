// GRPCRoute (gateway.networking.k8s.io v1alpha2/v1): matches on gRPC service and method (and
// headers), read into the path matches an HTTPRoute would have, since a gRPC call's path is
// `/<service>/<method>`; backends, filters and Linkerd's annotations as HTTPRoute's.
import type { HttpRouteMatch } from '../../../api/destination-types.ts';
import { compiledRegex, Fields, shown } from '../field-reader.ts';
import type { GrpcRouteResource } from '../resources.ts';
import { parseRouteSpec } from './http-route.ts';
import { checkVersion, type ParseContext } from './meta.ts';

export const GRPC_ROUTE_VERSIONS = ['gateway.networking.k8s.io/v1alpha2', 'gateway.networking.k8s.io/v1'];

/** Gateway API's patterns: a dotted protobuf service name, and a method name. */
const SERVICE = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

export function parseGrpcRoute(doc: Fields, ctx: ParseContext): GrpcRouteResource {
  checkVersion(doc, GRPC_ROUTE_VERSIONS);
  return { kind: 'GRPCRoute', ...parseRouteSpec(doc, ctx, 'GRPCRoute', readGrpcMatch) };
}

/**
 * `method: {type, service, method}` as a path match: Exact service and method is the exact path,
 * a service alone its path prefix, anything else an anchored regular expression over the path.
 */
function readGrpcMatch(m: Fields): HttpRouteMatch {
  const match: HttpRouteMatch = { method: 'POST' };
  const method = m.optionalObject('method');
  if (method) {
    const type = method.optionalString('type') ?? 'Exact';
    const service = method.optionalString('service');
    const name = method.optionalString('method');
    if (service === undefined && name === undefined) method.fail('service', 'or method is required (a method match names at least one)');
    if (type === 'Exact') {
      if (service !== undefined && !SERVICE.test(service)) method.fail('service', `must be a gRPC service name such as orders.v1.Orders, got ${shown(service)}`);
      if (name !== undefined && !METHOD.test(name)) method.fail('method', `must be a gRPC method name such as GetOrder, got ${shown(name)}`);
      const svc = service?.replace(/^\./, '');
      if (svc !== undefined && name !== undefined) match.path = { type: 'Exact', value: `/${svc}/${name}` };
      else if (svc !== undefined) match.path = { type: 'PathPrefix', value: `/${svc}` };
      else match.path = { type: 'RegularExpression', value: `/[^/]+/${name!}` };
    } else if (type === 'RegularExpression') {
      if (service !== undefined) compiledRegex(service, method.at('service'));
      if (name !== undefined) compiledRegex(name, method.at('method'));
      match.path = { type: 'RegularExpression', value: `/(?:${service ?? '[^/]+'})/(?:${name ?? '[^/]+'})` };
    } else method.fail('type', `must be Exact or RegularExpression, got ${shown(type)}`);
  }
  if (m.has('headers')) {
    match.headers = m.list('headers', (raw, p) => {
      const h = Fields.of(raw, p);
      const type = h.optionalString('type') ?? 'Exact';
      const value = h.string('value');
      if (type === 'RegularExpression') compiledRegex(value, h.at('value'));
      else if (type !== 'Exact') h.fail('type', `must be Exact or RegularExpression, got ${shown(type)}`);
      return { name: h.string('name'), value, type: type as 'Exact' | 'RegularExpression' };
    });
  }
  return match;
}
