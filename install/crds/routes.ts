// The route CRDs: HTTPRoute in both groups destination/store/kinds/http-route.ts reads
// (policy.linkerd.io, as the lesson writes it, and the Gateway API's gateway.networking.k8s.io),
// and the Gateway API's GRPCRoute, so a cluster that has the mesh also has the kinds its users write.
import { anyObject, crd, duration, enumOf, int, list, obj, port, str, type CrdSpec, type Schema } from './schema.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

const parentRef = () =>
  obj({ group: str(), kind: str(), namespace: str(), name: str({ minLength: 1 }), sectionName: str(), port: port() }, ['name']);

/** `weight` as the reader bounds it (0 to 1,000,000, Gateway API's own bound). */
const backendRef = () =>
  obj({ group: str(), kind: str(), name: str({ minLength: 1 }), namespace: str(), port: port(), weight: int(0, 1_000_000), filters: list(anyObject()) }, ['name']);

const valueMatch = () => obj({ type: enumOf(['Exact', 'RegularExpression']), name: str({ minLength: 1 }), value: str() }, ['name']);

/** What HTTPRoute and GRPCRoute share: parents, hostnames, and rules of matches, filters and backends. */
const routeSpec = (match: Schema, ruleExtras: Record<string, Schema> = {}): Schema =>
  obj({
    parentRefs: list(parentRef(), { maxItems: 32 }),
    hostnames: list(str(), { maxItems: 16 }),
    rules: list(
      obj({
        matches: list(match, { maxItems: 64 }),
        filters: list(anyObject(), { maxItems: 16 }),
        backendRefs: list(backendRef(), { maxItems: 16 }),
        ...ruleExtras,
      }),
      { maxItems: 16 },
    ),
  });

const httpRouteSpec = (): Schema =>
  routeSpec(
    obj({
      path: obj({ type: enumOf(['Exact', 'PathPrefix', 'RegularExpression']), value: str({ maxLength: 1024 }) }),
      headers: list(valueMatch(), { maxItems: 16 }),
      queryParams: list(valueMatch(), { maxItems: 16 }),
      method: enumOf(METHODS),
    }),
    { timeouts: obj({ request: duration(), backendRequest: duration() }) },
  );

const grpcRouteSpec = (): Schema =>
  routeSpec(
    obj({
      method: obj({ type: enumOf(['Exact', 'RegularExpression']), service: str(), method: str() }),
      headers: list(valueMatch(), { maxItems: 16 }),
    }),
  );

const route = (group: string, kind: string, versions: CrdSpec['versions'], spec: Schema) =>
  crd({
    group,
    kind,
    plural: `${kind.toLowerCase()}s`,
    singular: kind.toLowerCase(),
    categories: group === 'policy.linkerd.io' ? ['policy'] : ['gateway-api'],
    versions,
    spec,
    specRequired: true,
    status: true,
    printerColumns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }],
  });

export const routeCrds = () => [
  route('policy.linkerd.io', 'HTTPRoute', [{ name: 'v1alpha1' }, { name: 'v1beta1' }, { name: 'v1beta2' }, { name: 'v1beta3', storage: true }], httpRouteSpec()),
  route('gateway.networking.k8s.io', 'HTTPRoute', [{ name: 'v1beta1' }, { name: 'v1', storage: true }], httpRouteSpec()),
  route('gateway.networking.k8s.io', 'GRPCRoute', [{ name: 'v1alpha2' }, { name: 'v1', storage: true }], grpcRouteSpec()),
];
