// The outbound listener (app -> mesh): one port, the protocol told by sniffing. HTTP/2 preface
// -> the HTTP/2 edge; an HTTP/1 request line -> the HTTP/1 edge (origin-form, absolute-form,
// CONNECT, Upgrade); anything else has no destination without transparent interception and is
// closed (inside a CONNECT tunnel it is carried opaque to the CONNECT target).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config.ts';
import { detect } from '../detect/sniff.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import type { OutboundStack } from '../outbound/stack.ts';
import { connectHandler } from './connect.ts';
import type { Drain } from './drain.ts';
import { Http1Edge } from './http1.ts';
import { Http2Edge } from './http2.ts';
import type { ConnectionInfo, RequestIds } from './request-context.ts';
import { upgradeHandler } from './upgrade.ts';

export interface OutboundListenerOptions {
  config: ProxyConfig;
  stack: OutboundStack;
  metrics: ProxyMetrics;
  logger: Logger;
  ids: RequestIds;
  drain: Drain;
}

export class OutboundListener {
  private readonly http1: Http1Edge;
  private readonly h2: Http2Edge;

  constructor(private readonly opts: OutboundListenerOptions) {
    const { config, stack, logger, ids, drain } = opts;
    const edge = { direction: 'outbound' as const, service: stack.service, logger, ids, drain, maxHeaderBytes: config.maxHeaderBytes };
    this.h2 = new Http2Edge(edge);
    this.http1 = new Http1Edge({
      ...edge,
      headersTimeoutMs: config.headersTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      onConnect: connectHandler({
        logger,
        detectTimeoutMs: config.detectTimeoutMs,
        serveHttp: (protocol, socket, conn) => this.serve(protocol, socket, conn),
        openTunnel: stack.openTunnel,
      }),
      onUpgrade: upgradeHandler({ logger, open: (authority) => stack.openTunnel(authority) }),
    });
  }

  accept(socket: Socket): void {
    const { opts } = this;
    const conn: ConnectionInfo = { peer: `${socket.remoteAddress}:${socket.remotePort}`, tls: false };
    socket.on('error', (err) => opts.logger.info({ peer: conn.peer, err: err.message }, `connection from ${conn.peer} broke: ${err.message}`));
    opts.drain.trackSocket(socket);
    opts.metrics.trackConnection(socket, { direction: 'outbound', peer: 'src', tls: false });
    detect(socket, opts.config.detectTimeoutMs).then(
      ({ protocol, timedOut }) => {
        if (protocol === 'http1' || protocol === 'h2') return this.serve(protocol, socket, conn);
        opts.logger.warn(
          { peer: conn.peer, protocol, timedOut },
          timedOut
            ? `no bytes from ${conn.peer} within ${opts.config.detectTimeoutMs} ms; closing (opaque traffic needs CONNECT on this listener)`
            : `connection from ${conn.peer} is not HTTP; opaque traffic needs CONNECT on this listener; closing`,
        );
        socket.destroy();
      },
      (err: Error) => opts.logger.debug({ peer: conn.peer, err: err.message }, 'connection closed before detection'),
    );
  }

  private serve(protocol: 'http1' | 'h2', socket: Socket, conn: ConnectionInfo): void {
    if (protocol === 'h2') this.h2.accept(socket, conn);
    else this.http1.accept(socket, conn);
  }
}
