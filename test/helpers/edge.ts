// A Service on real traffic without a whole proxy: the proxy's own server edges (HTTP/1.1 or
// HTTP/2) in front of it on host:0, and the endpoint tier's clients toward a real upstream.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Service } from '../../proxy/http/message.ts';
import { EndpointConnector } from '../../proxy/outbound/endpoint/connector.ts';
import { Drain } from '../../proxy/server/drain.ts';
import { Http1Edge } from '../../proxy/server/http1.ts';
import { Http2Edge } from '../../proxy/server/http2.ts';
import { RequestIds } from '../../proxy/server/request-context.ts';

export interface ServedEdge {
  /** `http://host:port` */
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves `service` on `host`:0 through the real HTTP/1.1 or HTTP/2 (prior knowledge) edge, as
 * the inbound side (its requests are labelled `direction="inbound"`, no TLS).
 */
export async function serveOnEdge(host: string, service: Service, protocol: 'http/1.1' | 'h2'): Promise<ServedEdge> {
  const common = { direction: 'inbound' as const, service, logger: pino({ level: 'silent' }), ids: new RequestIds(), drain: new Drain(), maxHeaderBytes: 64 * 1024 };
  const edge = protocol === 'h2' ? new Http2Edge(common) : new Http1Edge({ ...common, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000 });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    edge.accept(socket, { peer: `${socket.remoteAddress}:${socket.remotePort}`, tls: false });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    origin: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The endpoint tier's clients to `origin` (plaintext; HTTP/1.1 pool or HTTP/2 session by the request's protocol) as a Service. */
export function upstreamService(origin: string): { service: Service; close: () => Promise<void> } {
  const connector = new EndpointConnector({ logger: pino({ level: 'silent' }), direction: 'inbound' });
  const endpoint = { address: new URL(origin).host, weight: 1, labels: {} };
  return { service: (req) => connector.service(endpoint)(req), close: () => connector.close(0) };
}
