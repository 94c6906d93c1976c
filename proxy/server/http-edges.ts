// The two HTTP edges of a listener (HTTP/2 and HTTP/1), built alike for inbound and outbound.
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config.ts';
import type { Service } from '../http/message.ts';
import type { Drain } from './drain.ts';
import { Http1Edge, type Http1EdgeOptions } from './http1.ts';
import { Http2Edge } from './http2.ts';
import type { RequestIds } from './request-context.ts';

export interface HttpEdges {
  h2: Http2Edge;
  http1: Http1Edge;
}

/** What a listener hands its edges: its stack, and the proxy's settings and shared parts. */
export interface EdgeParts {
  config: ProxyConfig;
  stack: { service: Service };
  logger: Logger;
  ids: RequestIds;
  drain: Drain;
}

/**
 * Both edges over one stack, with the proxy's limits on request heads and idle connections.
 * Only the tunnels differ by side (CONNECT is outbound's alone), so the listener names them.
 */
export function httpEdges(
  direction: 'inbound' | 'outbound',
  { config, stack, logger, ids, drain }: EdgeParts,
  tunnels: Pick<Http1EdgeOptions, 'onConnect' | 'onUpgrade'>,
): HttpEdges {
  const edge = { direction, service: stack.service, logger, ids, drain, maxHeaderBytes: config.maxHeaderBytes };
  return {
    h2: new Http2Edge(edge),
    http1: new Http1Edge({ ...edge, headersTimeoutMs: config.headersTimeoutMs, keepAliveTimeoutMs: config.keepAliveTimeoutMs, ...tunnels }),
  };
}
