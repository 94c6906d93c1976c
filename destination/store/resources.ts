// The validated resources the destination serves from: what each kind means once its YAML
// has been checked. Parsers in kinds/ produce these; the index reads only these.
import type { DefaultPolicy, FailureAccrualPolicy, HttpRouteFilter, HttpRouteMatch, ProfileRoute, RetryBudget, HttpRouteRetry } from '../../api/destination-types.ts';

export interface Meta {
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The file the document came from, relative to the resource folder. */
  file: string;
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values: string[] }>;
}

export interface ServiceResource {
  kind: 'Service';
  meta: Meta;
  /** Absent: a Service without selector selects no registered pod. */
  selector?: Record<string, string>;
  /** `appProtocol`: the HTTP version the app on the target port speaks, when one the mesh knows is declared. */
  ports: Array<{ name?: string; port: number; targetPort: number | string; protocol: string; appProtocol?: 'http/1.1' | 'h2' }>;
  /** `spec.clusterIP`: the virtual address an app dials (absent: headless, or not given). */
  clusterIP?: string;
  /** Its circuit breaker, from `balancer.linkerd.io/failure-accrual*` (absent: off). */
  failureAccrual?: FailureAccrualPolicy;
}

export interface ServiceProfileResource {
  kind: 'ServiceProfile';
  meta: Meta;
  routes: ProfileRoute[];
  retryBudget?: RetryBudget;
}

export interface ParentRef {
  group: string;
  kind: string;
  name: string;
  namespace: string;
  port?: number;
}

export interface BackendRef {
  group: string;
  kind: string;
  name: string;
  namespace: string;
  port?: number;
  weight: number;
}

export interface HttpRouteRuleResource {
  matches: HttpRouteMatch[];
  backendRefs: BackendRef[];
  requestTimeoutMs?: number;
  backendTimeoutMs?: number;
  /** The supported filters, in order (an unsupported one, or a redirect loop, sets `failure` instead). */
  filters: HttpRouteFilter[];
  /** Why the rule cannot be served as written: its requests are answered 500. */
  failure?: string;
}

export interface HttpRouteResource {
  kind: 'HTTPRoute';
  meta: Meta;
  parentRefs: ParentRef[];
  rules: HttpRouteRuleResource[];
  /** From `timeout.linkerd.io/request` and `timeout.linkerd.io/response`: rule defaults. */
  annotationTimeouts: { requestMs?: number; responseMs?: number };
  /** From the `retry.linkerd.io/*` annotations. */
  retry?: HttpRouteRetry;
  /** `failover.linkerd.io/enabled: "false"` turns the proxies' failover off for this route. */
  failoverDisabled?: boolean;
}

/** A GRPCRoute: an HTTPRoute whose matches were written as gRPC service and method (kinds/grpc-route.ts). */
export interface GrpcRouteResource extends Omit<HttpRouteResource, 'kind'> {
  kind: 'GRPCRoute';
}

export interface ServerResource {
  kind: 'Server';
  meta: Meta;
  podSelector: LabelSelector;
  port: number | string;
  proxyProtocol: 'unknown' | 'HTTP/1' | 'HTTP/2' | 'gRPC' | 'opaque';
  /** For callers none of its authorizations admits (`deny` when the Server leaves it out). */
  accessPolicy: DefaultPolicy;
}

export interface ClientNetwork {
  cidr: string;
}

export interface ServerAuthorizationResource {
  kind: 'ServerAuthorization';
  meta: Meta;
  server: { name?: string; selector?: LabelSelector };
  unauthenticated: boolean;
  /** Present when the client must use mesh TLS. */
  meshTLS?: { unauthenticatedTLS: boolean; identities: string[]; identityPrefixes: string[] };
  networks: string[];
}

export interface TargetRef {
  group: string;
  kind: string;
  name: string;
  namespace: string;
}

export interface AuthorizationPolicyResource {
  kind: 'AuthorizationPolicy';
  meta: Meta;
  targetRef: TargetRef;
  requiredAuthenticationRefs: TargetRef[];
}

export interface MeshTLSAuthenticationResource {
  kind: 'MeshTLSAuthentication';
  meta: Meta;
  identities: string[];
  identityPrefixes: string[];
}

export interface NetworkAuthenticationResource {
  kind: 'NetworkAuthentication';
  meta: Meta;
  networks: string[];
}

/** Development mode only (`StoreOptions.pods`): a pod as its proxy would have registered it. */
export interface PodResource {
  kind: 'Pod';
  meta: Meta;
  /** `status.podIP`. */
  ip: string;
  /** `status.podIPs` after the first: a dual-stack pod's address of its other family. */
  otherIps: string[];
  serviceAccount: string;
  /** The port named `mesh-inbound`, else 4143. */
  inboundPort: number;
  /** The app containers' ports (the proxy's own `mesh-*` ports left out). */
  ports: Array<{ name?: string; port: number }>;
  /** `status.conditions[Ready]`; absent in a file (no kubelet), where a Pod is taken as Ready. */
  ready?: boolean;
  /** Has the mesh's proxy (the injector's `linkerd.io/proxy-version` annotation or a `mesh-inbound` port): its endpoints use mTLS. */
  meshed: boolean;
}

/** Kubernetes mode: one EndpointSlice (discovery.k8s.io v1 or v1beta1); a Service's slices together are its endpoints. */
export interface EndpointSliceResource {
  kind: 'EndpointSlice';
  meta: Meta;
  /** The label `kubernetes.io/service-name`: the Service the slice belongs to. */
  service: string;
  ports: Array<{ name: string; port: number }>;
  endpoints: Array<{ addresses: string[]; ready: boolean; pod?: string }>;
}

export type Resource =
  | ServiceResource
  | ServiceProfileResource
  | HttpRouteResource
  | GrpcRouteResource
  | ServerResource
  | ServerAuthorizationResource
  | AuthorizationPolicyResource
  | MeshTLSAuthenticationResource
  | NetworkAuthenticationResource
  | PodResource
  | EndpointSliceResource;

/** `Kind namespace/name`: how every message names a resource. */
export function resourceName(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind} ${r.namespace}/${r.name}`;
}

/**
 * Whether a Service's selector picks a pod with these labels. An absent or empty selector picks
 * none: Kubernetes manages no endpoints for such a Service, and neither does the mesh.
 */
export function serviceSelects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function labelsMatch(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
