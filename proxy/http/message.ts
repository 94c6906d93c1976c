// The one request/response shape every layer of the proxy speaks, whatever the wire protocol.
//
// A proxy stack is a chain of `Service`s: a function from a request to a promised response,
// as in Rust's tower (which linkerd2-proxy is built on). A `Layer` wraps an inner service with
// one behaviour (a timeout, a retry, metrics, an authorization check). Server edges (the
// HTTP/1.1 and HTTP/2 listeners) turn wire messages into `MeshRequest`s and write
// `MeshResponse`s back; endpoint clients (an HTTP/1.1 pool, an HTTP/2 session) do the reverse.
import type { Readable } from 'node:stream';
import type { InboundPolicy } from '../../api/destination-types.ts';

/** Header names are lower-case. Pseudo-headers (`:path`) and hop-by-hop headers never appear here. */
export type HeaderMap = Record<string, string | string[]>;

export type WireProtocol = 'http/1.1' | 'h2';

/** A request's cancellation as the layers read it: an AbortSignal (HTTP/1) or an edge's own `OwnedSignal` (HTTP/2). */
export interface RequestSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
}

export interface MeshRequest {
  /** How the request reached this proxy; the endpoint tier decides how it leaves. */
  readonly protocol: WireProtocol;
  method: string;
  scheme: 'http' | 'https';
  /** `host[:port]` as the client named it (Host header, absolute-form URI, or `:authority`). */
  authority: string;
  /** Origin-form path with query, e.g. `/orders/7?x=1`. */
  path: string;
  headers: HeaderMap;
  /** The streamed request body; `null` when the request has none. Read it once. */
  body: Readable | null;
  /**
   * Request trailers (HTTP/2 and chunked HTTP/1.1), resolved after the body has ended;
   * undefined (the field, or the resolved value) when the request has none.
   */
  trailers?: Promise<HeaderMap | undefined>;
  /**
   * Aborted when the client goes away or resets the stream: layers stop work and cancel upstream
   * (they hear of it through `onCancel`, proxy/http/cancel.ts).
   */
  signal: RequestSignal;
  readonly ctx: RequestContext;
}

/** What this proxy knows about one request, filled in by the layers as it passes down. */
export interface RequestContext {
  /** A short id for logs, `l5d-request-id` style. */
  readonly id: string;
  readonly direction: 'inbound' | 'outbound';
  /** `performance.now()` when the request head arrived. */
  readonly startedAt: number;
  /** Address of the connection's peer, `ip:port`. */
  readonly peer: string;
  /** True when the request arrived over mTLS from another proxy. */
  readonly tls: boolean;
  /** The caller's SPIFFE identity, from its client certificate (inbound, mTLS only). */
  readonly clientIdentity?: string;
  /** True for gRPC (`content-type: application/grpc...`): errors become gRPC statuses. */
  readonly grpc: boolean;
  /** Absolute deadline (ms, `Date.now()` clock) from `grpc-timeout` or a route timeout. */
  deadline?: number;
  /** The route a route layer matched, for metrics and logs. */
  route?: string;
  /** Labels the metrics layer adds to this request's series (bounded by the layers that set them). */
  labels: Record<string, string>;
  /** How many times a retry layer re-sent the request (0 for the first attempt). */
  retries: number;
  /** Inbound: the app port this request goes to (from `l5d-dst-port`, or the default), set once at the top of the stack. */
  targetPort?: number;
  /**
   * Inbound: the port's policy as the authorization layer read it to admit this request; the
   * layers below it (the app's protocol) read it here rather than look the port up again.
   */
  inboundPolicy?: InboundPolicy;
  /** A connection redirected by proxy-init: the port the caller dialled (SO_ORIGINAL_DST); inbound, the app port when no `l5d-dst-port` names one. */
  originalDstPort?: number;
  /**
   * Decides whether a response counts as a failure, for metrics and retries. A route layer sets
   * it from the ServiceProfile's responseClasses; absent: 5xx, or a gRPC status other than OK.
   */
  isFailure?: (status: number, grpcStatus: number | undefined) => boolean;
  /** The endpoint (`ip:port`) the balancer chose for the latest attempt. */
  endpoint?: string;
  /**
   * Outbound: discovery's metric labels of that endpoint (`namespace`, `service`, `deployment`,
   * `pod`), one object per endpoint; the metrics layer exports them as `dst_*` labels.
   */
  dstLabels?: Readonly<Record<string, string>>;
  /** A retry's hint: prefer an endpoint other than this one when the balancer has a choice. */
  avoidEndpoint?: string;
  /**
   * Set only while a tap reports this request (proxy/tap/): layers that decide something note it
   * with `req.ctx.journey?.add(layer, note)`, which costs one field check for any other request.
   */
  journey?: JourneyRecorder;
}

/** Where layers note their decisions on a tapped request (proxy/tap/journey.ts keeps them, bounded). */
export interface JourneyRecorder {
  add(layer: string, note: string): void;
}

export interface MeshResponse {
  status: number;
  headers: HeaderMap;
  /**
   * The body: a stream while it is still arriving; a Buffer when all of it came with the head
   * (a small HTTP/1.1 response, read whole: nothing to wait for and no stream to build; see
   * `outbound/endpoint/http1-exchange.ts`); `null` for none (HEAD, 204, 304, trailers-only gRPC).
   */
  body: Readable | Buffer | null;
  /**
   * Trailers, resolved after the body has ended (HTTP/2, gRPC, chunked HTTP/1.1).
   * Resolves to undefined when the response has none.
   */
  trailers?: Promise<HeaderMap | undefined>;
}

export type Service = (req: MeshRequest) => Promise<MeshResponse>;

/** One behaviour wrapped around an inner service. Built once per target, called per request. */
export type Layer = (inner: Service) => Service;

/** Apply layers outermost first: `stack(inner, a, b)` runs a, then b, then inner. */
export function stack(inner: Service, ...layers: Layer[]): Service {
  return layers.reduceRight((svc, layer) => layer(svc), inner);
}

export function isGrpc(contentType: string | string[] | undefined): boolean {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType;
  return ct !== undefined && ct.startsWith('application/grpc');
}

export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * `headers` without `name`: the same object when it has no such header, else a copy without it.
 * Not `delete`: deleting a property turns a V8 object into a hash-table ("dictionary") object,
 * an allocation and slower reads for every layer after, on headers every request carries.
 */
export function withoutHeader(headers: HeaderMap, name: string): HeaderMap {
  if (headers[name] === undefined) return headers;
  const kept: HeaderMap = {};
  for (const key in headers) if (key !== name) kept[key] = headers[key]!;
  return kept;
}
