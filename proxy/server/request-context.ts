// Builds each request's RequestContext at the server edge: id, peer, TLS identity, gRPC deadline.
import type { Logger } from 'pino';
import { joinHostPort } from '../../api/host-port.ts';
import type { MeshRequest, MeshResponse, RequestContext, Service } from '../http/message.ts';
import type { Drain } from './drain.ts';

/** What the edge knows about the connection a request arrived on. */
export interface ConnectionInfo {
  /** `ip:port` of the peer. */
  peer: string;
  /** True when the connection is mTLS from another proxy. */
  tls: boolean;
  /** The peer's SPIFFE id, from its client certificate. */
  clientIdentity?: string;
  /** Inside a CONNECT tunnel: the `host:port` the client asked to reach. */
  connectTarget?: string;
  /** A connection redirected by proxy-init: the `ip:port` the app sent it to (SO_ORIGINAL_DST). */
  originalDst?: string;
}

/** Request ids for one proxy: a random prefix per proxy and a counter, cheap and unique enough for logs. */
export class RequestIds {
  private readonly prefix = Math.floor(Math.random() * 0xffffff).toString(36);
  private counter = 0;

  next(): string {
    this.counter = (this.counter + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }
}

const GRPC_TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/**
 * `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a unit) as milliseconds,
 * or undefined when absent or malformed (a malformed one is ignored, as grpc-js does).
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = GRPC_TIMEOUT_UNIT_MS[value[value.length - 1]!];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return undefined;
  return Number(digits) * unit;
}

export function createContext(
  ids: RequestIds,
  direction: 'inbound' | 'outbound',
  conn: ConnectionInfo,
  grpc: boolean,
  grpcTimeout: string | undefined,
): RequestContext {
  const timeoutMs = grpc ? parseGrpcTimeout(grpcTimeout) : undefined;
  return {
    id: ids.next(),
    direction,
    startedAt: performance.now(),
    peer: conn.peer,
    tls: conn.tls,
    clientIdentity: conn.clientIdentity,
    grpc,
    deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
    labels: {},
    retries: 0,
    originalDstPort: conn.originalDst === undefined ? undefined : portOf(conn.originalDst),
    // Present from the start, so every context has one shape whether or not a tap records it
    // (journey), an endpoint served it (endpoint, dstLabels), a route matched it (route,
    // isFailure) or the inbound side admitted it (targetPort, inboundPolicy): a field a layer adds
    // later is a new shape per request, each shape's readers slower, and the fields past the
    // object's own slots stored apart, in a list reallocated as it grows.
    journey: undefined,
    endpoint: undefined,
    dstLabels: undefined,
    avoidEndpoint: undefined,
    route: undefined,
    isFailure: undefined,
    targetPort: undefined,
    inboundPolicy: undefined,
  };
}

/** What every server edge (HTTP/1.1 and HTTP/2) is built with. */
export interface EdgeOptions {
  direction: 'inbound' | 'outbound';
  /** The stack the edge hands each request to. */
  service: Service;
  logger: Logger;
  ids: RequestIds;
  drain: Drain;
  maxHeaderBytes: number;
}

/**
 * `ip:port` of a socket's peer, an IPv6 address in brackets (`[fd00::5]:41000`): written bare,
 * `fd00::5:41000` is itself an IPv6 address, and authorization would read the wrong caller IP.
 * `unknown` once the socket has closed (Node then reports no address).
 */
export function peerOf(socket: { remoteAddress?: string; remotePort?: number } | undefined): string {
  return socket?.remoteAddress ? joinHostPort(socket.remoteAddress, socket.remotePort ?? 0) : 'unknown';
}

/** The port of an `ip:port` (an original destination, always written so). */
export function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

/**
 * `service(req)` as a promise even when a layer throws before its first `await` (a malformed
 * authority, say): the edge then answers with the error, where a throw out of the 'request'
 * listener would leave the client waiting for an answer that never comes.
 */
export function callService(service: Service, req: MeshRequest): Promise<MeshResponse> {
  try {
    return service(req);
  } catch (err) {
    return Promise.reject(err);
  }
}
