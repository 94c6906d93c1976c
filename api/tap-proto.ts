// api/tap.proto's messages as TypeScript types: what the proxy's tap server sends and what a tap
// client (the viz) receives, field for field.
import { spiffeId } from './spiffe.ts';

/** The identity that may tap a proxy: the viz's service account in its own namespace. */
export const TAP_NAMESPACE = 'mesh-viz';
export const TAP_SERVICE_ACCOUNT = 'tap';

export function tapIdentityOf(trustDomain: string): string {
  return spiffeId(trustDomain, TAP_NAMESPACE, TAP_SERVICE_ACCOUNT);
}

/** The proxy's tap port (Linkerd's). */
export const DEFAULT_TAP_PORT = 4190;

export type TapDirection = 'DIRECTION_UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';

export type PeerMatch = { pod: string } | { deployment: string } | { namespace: string } | { identity: string } | { address: string };
export type HttpMatch = { method: string } | { authority: string } | { pathPrefix: string };

/** A request filter, as sent: exactly one key set. */
export type TapMatch =
  | { all: { matches: TapMatch[] } }
  | { any: { matches: TapMatch[] } }
  | { not: TapMatch }
  | { source: PeerMatch }
  | { destination: PeerMatch }
  | { http: HttpMatch }
  | { direction: TapDirection };

export interface ObserveRequest {
  limit?: number;
  match?: TapMatch;
  maxRps?: number;
  durationMs?: number;
  headers?: string[];
  journey?: boolean;
}

export interface TapPeer {
  address: string;
  identity: string;
  pod: string;
  deployment: string;
  namespace: string;
  service: string;
}

export interface TapHeader {
  name: string;
  value: string;
}

export interface RequestInit {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  protocol: string;
  headers: TapHeader[];
}

export interface ResponseInit {
  sinceRequestInitUs: number;
  httpStatus: number;
  headers: TapHeader[];
}

export interface JourneyEntry {
  layer: string;
  note: string;
  atUs: number;
}

export interface ResponseEnd {
  sinceRequestInitUs: number;
  sinceResponseInitUs: number;
  responseBytes: number;
  /** null when the request is not gRPC. */
  grpcStatus: { code: number } | null;
  error: string;
  errorMessage: string;
  journey: JourneyEntry[];
  journeyDropped: number;
}

export type TapEndReason = 'REASON_UNSPECIFIED' | 'LIMIT' | 'DURATION' | 'SHUTDOWN';

export interface TapEnd {
  reason: TapEndReason;
  matched: number;
  dropped: number;
  message: string;
}

interface TapEventCommon {
  proxyDirection: TapDirection;
  source: TapPeer | null;
  destination: TapPeer | null;
  tls: boolean;
  requestId: string;
  route: string;
  dropped: number;
}

/** One message of the Observe stream; `event` names which of the four it is. */
export type TapEvent = TapEventCommon &
  (
    | { event: 'requestInit'; requestInit: RequestInit }
    | { event: 'responseInit'; responseInit: ResponseInit }
    | { event: 'responseEnd'; responseEnd: ResponseEnd }
    | { event: 'tapEnd'; tapEnd: TapEnd }
  );

/** What the server side writes: the same message, with the unset oneof members omitted. */
export type TapEventOut = Omit<TapEventCommon, 'source' | 'destination'> & {
  source: Partial<TapPeer>;
  destination: Partial<TapPeer>;
  requestInit?: RequestInit;
  responseInit?: ResponseInit;
  responseEnd?: Omit<ResponseEnd, 'grpcStatus'> & { grpcStatus?: { code: number } };
  tapEnd?: TapEnd;
};
