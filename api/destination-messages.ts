// The messages of api/destination.proto in TypeScript, as @grpc/proto-loader hands them over and
// takes them (camelCase names, uint32 as number, a oneof's chosen field named in `update`/`match`).
// Every field is optional: a sender may leave any out (proto3 defaults it), so no reader counts on one.

// ---- Destination.GetEndpoints ----------------------------------------------------------------

export interface GetDestinationMessage {
  authority?: string;
  contextNamespace?: string;
}

export interface EndpointMessage {
  address?: string;
  weight?: number;
  identity?: string;
  protocolHint?: { inboundPort?: number; h2?: boolean } | null;
  labels?: Record<string, string>;
  metricLabels?: Record<string, string>;
}

export interface EndpointUpdateMessage {
  update?: 'add' | 'remove' | 'noEndpoints';
  add?: { endpoints?: EndpointMessage[] } | null;
  remove?: { addresses?: string[] } | null;
  noEndpoints?: { exists?: boolean } | null;
}

// ---- Destination.GetProfile ------------------------------------------------------------------

export interface StatusRangeMessage {
  min?: number;
  max?: number;
}

/** The all / any / not arms of a condition message (RequestMatch, ResponseMatch) over its own kind. */
export interface CombinedMatchMessage<M> {
  all?: { matches?: M[] } | null;
  any?: { matches?: M[] } | null;
  not?: M | null;
}

export interface RequestMatchMessage extends CombinedMatchMessage<RequestMatchMessage> {
  match?: 'method' | 'pathRegex' | 'all' | 'any' | 'not';
  method?: string;
  pathRegex?: string;
}

export interface ResponseMatchMessage extends CombinedMatchMessage<ResponseMatchMessage> {
  match?: 'status' | 'all' | 'any' | 'not';
  status?: StatusRangeMessage | null;
}

export interface RouteMessage {
  name?: string;
  condition?: RequestMatchMessage | null;
  responseClasses?: Array<{ condition?: ResponseMatchMessage | null; isFailure?: boolean }>;
  timeoutMs?: number;
  isRetryable?: boolean;
}

export interface ValueMatchMessage {
  name?: string;
  value?: string;
  type?: string;
}

export interface HttpRouteMatchMessage {
  path?: { type?: string; value?: string } | null;
  headers?: ValueMatchMessage[];
  queryParams?: ValueMatchMessage[];
  method?: string;
}

export interface HttpRouteRuleMessage {
  matches?: HttpRouteMatchMessage[];
  backends?: Array<{ authority?: string; weight?: number; failure?: string }>;
  requestTimeoutMs?: number;
  backendTimeoutMs?: number;
  retry?: { httpStatuses?: StatusRangeMessage[]; grpcStatuses?: string[]; limit?: number; timeoutMs?: number } | null;
  failoverDisabled?: boolean;
  filters?: HttpRouteFilterMessage[];
  failure?: string;
}

export interface HttpRouteFilterMessage {
  type?: string;
  headerModifier?: { set?: Array<{ name?: string; value?: string }>; add?: Array<{ name?: string; value?: string }>; remove?: string[] } | null;
  redirect?: { scheme?: string; hostname?: string; pathType?: string; pathValue?: string; port?: number; statusCode?: number } | null;
}

export interface ProfileUpdateMessage {
  fullyQualifiedName?: string;
  routes?: RouteMessage[];
  retryBudget?: { retryRatio?: number; minRetriesPerSecond?: number; ttlMs?: number } | null;
  httpRoutes?: Array<{ name?: string; rules?: HttpRouteRuleMessage[] }>;
  opaqueProtocol?: boolean;
  failureAccrual?: { consecutiveFailures?: number; minBackoffMs?: number; maxBackoffMs?: number; jitter?: number } | null;
}

// ---- InboundPolicies.WatchPort ---------------------------------------------------------------

export interface PortSpecMessage {
  workload?: string;
  port?: number;
  defaultPolicy?: string;
}

export interface AuthorizationMessage {
  name?: string;
  authentication?: { unauthenticated?: boolean; identities?: string[]; identitySuffixes?: string[]; networks?: string[] } | null;
  routeMatches?: HttpRouteMatchMessage[];
  routeScoped?: boolean;
}

export interface InboundPolicyMessage {
  port?: number;
  server?: { name?: string; protocol?: string; accessPolicy?: string } | null;
  authorizations?: AuthorizationMessage[];
  defaultPolicy?: string;
  clusterNetworks?: string[];
  appProtocol?: string;
}

// ---- Registration.Register -------------------------------------------------------------------

export interface PodAnnouncementMessage {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
  inboundPort?: number;
  serviceAccount?: string;
  deployment?: string;
  /** The pod's Ready condition, inverted so the default means Ready (destination.proto). */
  notReady?: boolean;
  /** A dual-stack pod's address of its other family (destination.proto). */
  otherIps?: string[];
}

export interface RegistrationEventMessage {
  accepted?: boolean;
  message?: string;
}
