// The destination contract's data: where a service's endpoints are, how its routes behave, who may
// call a pod's ports, and what a pod registers. These mirror the messages of api/destination.proto.
// ---- Endpoints -------------------------------------------------------------------------

export interface Endpoint {
  /** The workload's own address, `ip:port` (pod IP and the service's target port). */
  address: string;
  /** Relative weight for load balancing (default 1). */
  weight: number;
  /** The SPIFFE identity the endpoint's proxy must present; absent for unmeshed endpoints. */
  identity?: string;
  /**
   * Set when a proxy runs beside the endpoint: connect to `ip:inboundPort` over mTLS and name
   * the target port in `l5d-dst-port`. Absent: connect to `address` directly, in plaintext.
   */
  inboundPort?: number;
  /** The endpoint's inbound proxy accepts HTTP/2 (always true for this mesh's proxies). */
  h2?: boolean;
  /** Pod labels, for logs and metrics (`pod`, `namespace`). */
  labels: Record<string, string>;
  /**
   * What metrics call this endpoint (Linkerd's `metric_labels`): `namespace`, `service`,
   * `deployment`, `pod` when known. The proxy exports them as `dst_<key>` on outbound series.
   */
  metricLabels?: Record<string, string>;
}

export type EndpointSet =
  /** The service exists; `endpoints` may be empty (no ready pods: fail fast with 503). */
  | { kind: 'endpoints'; endpoints: Endpoint[] }
  /** Discovery does not know this authority: forward to it as named (not a mesh service). */
  | { kind: 'unknown' };

// ---- Profiles (ServiceProfile + HTTPRoute) -------------------------------------------------

/** How ServiceProfile's conditions of one kind nest: all of, any of, or not a condition. */
export type CombinedMatch<M> = AllOf<M> | AnyOf<M> | NotOf<M>;
// (Interfaces, so that a condition type can name itself among its own parts.)
export interface AllOf<M> {
  all: M[];
}
export interface AnyOf<M> {
  any: M[];
}
export interface NotOf<M> {
  not: M;
}

/** A request condition, as ServiceProfile's `condition`. */
export type RequestMatch = { method: string } | { pathRegex: string } | AllOf<RequestMatch> | AnyOf<RequestMatch> | NotOf<RequestMatch>;

/** A response condition, as ServiceProfile's `responseClasses[].condition`. */
export type ResponseMatch = { status: { min: number; max: number } } | AllOf<ResponseMatch> | AnyOf<ResponseMatch> | NotOf<ResponseMatch>;

export interface ResponseClass {
  condition: ResponseMatch;
  isFailure: boolean;
}

/** A ServiceProfile route. */
export interface ProfileRoute {
  name: string;
  condition: RequestMatch;
  responseClasses: ResponseClass[];
  /** Whole-request timeout including retries; 0 = none. */
  timeoutMs: number;
  isRetryable: boolean;
}

export interface RetryBudget {
  retryRatio: number;
  minRetriesPerSecond: number;
  ttlMs: number;
}

/**
 * A Service's circuit breaker (Linkerd's consecutive failure accrual, which a Service opts into
 * with `balancer.linkerd.io/failure-accrual: consecutive`): a caller's balancer takes an endpoint
 * out after this many failed answers in a row (5xx, or a gRPC status that says the server is in
 * trouble), then lets one probe through after a jittered, doubling backoff.
 */
export interface FailureAccrualPolicy {
  consecutiveFailures: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** 0..1: the fraction of each backoff drawn at random, so callers do not all probe at once. */
  jitter: number;
}

/**
 * Linkerd's defaults: what a Service's breaker uses for each tuning annotation it leaves out, and
 * what a caller's balancer uses for errors reaching an endpoint (refused, reset) breaker or not.
 */
export const DEFAULT_FAILURE_ACCRUAL: Readonly<FailureAccrualPolicy> = { consecutiveFailures: 7, minBackoffMs: 1_000, maxBackoffMs: 60_000, jitter: 0.5 };

/** An HTTPRoute match (Gateway API): every present field must match. */
export interface HttpRouteMatch {
  path?: { type: 'Exact' | 'PathPrefix' | 'RegularExpression'; value: string };
  headers?: Array<{ name: string; value: string; type: 'Exact' | 'RegularExpression' }>;
  queryParams?: Array<{ name: string; value: string; type: 'Exact' | 'RegularExpression' }>;
  method?: string;
}

export interface WeightedBackend {
  /** The backend Service's authority, `name.namespace.svc.cluster.local:port`. */
  authority: string;
  weight: number;
  /**
   * Set when the backendRef cannot be used (its Service does not exist): this share of the
   * rule's requests is answered 500, the Gateway API's answer, with this reason.
   */
  failure?: string;
}

export interface HeaderValue {
  name: string;
  value: string;
}

/** RequestHeaderModifier / ResponseHeaderModifier: header names lower-case, each named once. */
export interface HeaderModifierFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier';
  /** Replace (or add) the header with this value. */
  set: HeaderValue[];
  /** Append this value to the header's values. */
  add: HeaderValue[];
  remove: string[];
}

/** RequestRedirect: the proxy answers 301/302 itself; an absent field keeps the request's own. */
export interface RedirectFilter {
  type: 'RequestRedirect';
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string };
  port?: number;
  statusCode: number;
}

/** A route filter the mesh applies (those Linkerd supports), from an HTTPRoute or GRPCRoute rule. */
export type HttpRouteFilter = HeaderModifierFilter | RedirectFilter;

export interface HttpRouteRetry {
  /** HTTP status ranges that are retried, from `retry.linkerd.io/http` (e.g. "5xx", "429"). */
  httpStatuses: Array<{ min: number; max: number }>;
  /** gRPC status names that are retried, from `retry.linkerd.io/grpc`. */
  grpcStatuses: string[];
  /** Max retries per request, `retry.linkerd.io/limit` (default 1). */
  limit: number;
  /** Per-attempt timeout, `retry.linkerd.io/timeout`; 0 = none. */
  timeoutMs: number;
}

export interface HttpRouteRule {
  /** Empty means "match everything" (Gateway API: a rule with no matches matches `/` prefix). */
  matches: HttpRouteMatch[];
  backends: WeightedBackend[];
  /** Whole-request timeout (HTTPRoute `timeouts.request`, `timeout.linkerd.io/request`); 0 = none. */
  requestTimeoutMs: number;
  /** Per-attempt timeout (`timeouts.backendRequest`, `timeout.linkerd.io/response`); 0 = none. */
  backendTimeoutMs: number;
  retry?: HttpRouteRetry;
  /** `failover.linkerd.io/enabled: "false"`: weights stay as written even while a backend has no ready endpoints. */
  failoverDisabled?: boolean;
  /** Applied in order to every request the rule matches (and its response). */
  filters?: HttpRouteFilter[];
  /** Set when the rule cannot be served as written (an unsupported filter): its requests get 500 with this reason. */
  failure?: string;
}

export interface HttpRoute {
  /** `namespace/name` of the HTTPRoute. */
  name: string;
  rules: HttpRouteRule[];
}

export interface Profile {
  /** The service's fully qualified name, `orders.production.svc.cluster.local`. */
  fqdn: string;
  routes: ProfileRoute[];
  retryBudget?: RetryBudget;
  /** HTTPRoutes whose parentRef is this service and port: matched before the default backend. */
  httpRoutes: HttpRoute[];
  /**
   * The port carries an opaque protocol (Linkerd's `opaque_protocol`): the Service's
   * `config.linkerd.io/opaque-ports` names it, or a Server selecting its pods on the target port
   * says `proxyProtocol: opaque`. Callers skip protocol detection and tunnel its bytes over mTLS.
   */
  opaqueProtocol?: boolean;
  /** The Service's circuit breaker; absent: failed answers never take an endpoint out (Linkerd's default). */
  failureAccrual?: FailureAccrualPolicy;
}

// ---- Inbound policy (Server, ServerAuthorization, AuthorizationPolicy) -----------------------

/**
 * Linkerd's default inbound policies, the one list the injector, the proxy and the destination
 * accept (`config.linkerd.io/default-inbound-policy`, `--default-inbound-policy`, a Server's
 * `accessPolicy`): `cluster-*` admit only callers from the cluster's networks; `audit` admits
 * everyone, logging and counting (`authz="audit"`) each call no rule admitted.
 */
export const DEFAULT_POLICIES = ['all-unauthenticated', 'all-authenticated', 'cluster-unauthenticated', 'cluster-authenticated', 'deny', 'audit'] as const;

export type DefaultPolicy = (typeof DEFAULT_POLICIES)[number];

export function isDefaultPolicy(value: string): value is DefaultPolicy {
  return (DEFAULT_POLICIES as readonly string[]).includes(value);
}

export type ServerProtocol = 'unknown' | 'HTTP/1' | 'HTTP/2' | 'gRPC' | 'opaque';

export interface Authentication {
  /** Anyone, with or without a client certificate. */
  unauthenticated: boolean;
  /** Exact SPIFFE ids allowed, or `*` for any authenticated caller. Empty: no meshTLS rule. */
  identities: string[];
  /** Identity suffixes allowed (`*.production.serviceaccount.identity...` style), matched against SPIFFE ids. */
  identitySuffixes: string[];
  /** Client networks (CIDR) the rule is limited to; empty means any network. */
  networks: string[];
}

export interface Authorization {
  /** `Kind namespace/name` of the resource that grants this, for logs. */
  name: string;
  authentication: Authentication;
  /** Set when an AuthorizationPolicy targets an HTTPRoute: the rule applies only to matching requests. */
  routeMatches?: HttpRouteMatch[];
}

export interface InboundPolicy {
  port: number;
  /**
   * The Server that selects this pod and port, if any; absent: the default policy applies. Its
   * `accessPolicy` decides callers none of its authorizations admits (Linkerd 2.15+; `deny`
   * when the Server leaves it out).
   */
  server?: { name: string; protocol: ServerProtocol; accessPolicy?: DefaultPolicy };
  authorizations: Authorization[];
  defaultPolicy: DefaultPolicy;
  /** Networks that `cluster-authenticated` and `all-*` defaults treat as the cluster. */
  clusterNetworks: string[];
  /**
   * The HTTP version the app on this port speaks, from the `appProtocol` of a Service port that
   * targets it (`http`: HTTP/1.1; `kubernetes.io/h2c`, `grpc`: HTTP/2). Absent: requests reach
   * the app in the version they arrived in, as Linkerd does.
   */
  appProtocol?: 'http/1.1' | 'h2';
}

// ---- Registration ----------------------------------------------------------------------------

export interface PodInfo {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ip: string;
  /**
   * A dual-stack pod's address of its other family (`status.podIPs` after the first). Callers that
   * dial it are answered with this pod, whose endpoint stays at `ip`: one family per endpoint.
   */
  otherIps?: string[];
  ports: Array<{ name?: string; port: number; protocol?: string }>;
  /** The owning Deployment's name, for the `dst_deployment` label of its callers' metrics. */
  deployment?: string;
}

// ---- Resources (what the destination holds, for people) -------------------------------------

/** One document of the resource folder (or API object) as the destination took it. */
export interface ResourceState {
  kind: string;
  namespace: string;
  name: string;
  /** Relative to the resource folder. */
  file: string;
  /** The document, as YAML. */
  yaml: string;
  /** applied; applied with warnings; or refused (then `problems` names the field). */
  state: 'applied' | 'warnings' | 'refused';
  /** `field.path: problem` for each warning or error. */
  problems: string[];
}

/** A resource as Resources.WatchResources sends it: for a Server, the authorizations that apply. */
export interface HeldResource extends ResourceState {
  authorizations: string[];
}
