// The outbound listener (app -> mesh): one port, the protocol told by sniffing. HTTP/2 preface
// -> the HTTP/2 edge; an HTTP/1 request line -> the HTTP/1 edge (origin-form, absolute-form,
// CONNECT, Upgrade); anything else is carried opaque to the connection's original destination when
// proxy-init redirected it (--transparent), else it has no destination and is closed (inside a
// CONNECT tunnel it is carried opaque to the CONNECT target).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config.ts';
import { detect } from '../detect/sniff.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import type { OutboundStack } from '../outbound/stack.ts';
import { originalDst } from '../transport/original-dst.ts';
import { connectHandler } from './connect.ts';
import type { Drain } from './drain.ts';
import { httpEdges, type HttpEdges } from './http-edges.ts';
import { peerOf, type ConnectionInfo, type RequestIds } from './request-context.ts';
import { kindOpener, openAndJoin } from './tunnel.ts';
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
  private readonly edges: HttpEdges;

  constructor(private readonly opts: OutboundListenerOptions) {
    const { config, stack, logger } = opts;
    this.edges = httpEdges('outbound', opts, {
      onConnect: connectHandler({
        logger,
        detectTimeoutMs: config.detectTimeoutMs,
        serveHttp: (protocol, socket, conn) => this.serve(protocol, socket, conn),
        openTunnel: stack.openTunnel,
        connectionKind: stack.connectionKind,
        openDirect: stack.openDirect,
      }),
      onUpgrade: upgradeHandler({ logger, open: (authority) => stack.openTunnel(authority) }),
    });
  }

  accept(socket: Socket): void {
    const { opts } = this;
    const conn: ConnectionInfo = { peer: peerOf(socket), tls: false };
    // Read before anything else: the answer belongs to this socket's connection-tracking entry.
    if (opts.config.transparent) conn.originalDst = originalDst(socket);
    socket.on('error', (err) => opts.logger.info({ peer: conn.peer, err: err.message }, `connection from ${conn.peer} broke: ${err.message}`));
    opts.drain.trackSocket(socket);
    opts.metrics.trackConnection(socket, { direction: 'outbound', peer: 'src', tls: false });
    if (conn.originalDst === undefined) return this.detectAndServe(socket, conn);
    // Redirected: the original destination's port may be opaque or skipped, known before any byte.
    const target = conn.originalDst;
    socket.pause();
    opts.stack.connectionKind(target).then(
      (kind) => {
        // The client may have gone while discovery answered: nothing to detect or forward.
        if (socket.destroyed) return;
        if (kind === 'detect') return this.detectAndServe(socket, conn);
        const { open, why } = kindOpener(kind, opts.stack);
        opts.logger.debug({ peer: conn.peer, target, kind }, `connection to ${target}: ${why}`);
        openAndJoin(socket, target, open, opts.logger, `opaque ${target}`);
      },
      (err: unknown) => {
        opts.logger.warn({ peer: conn.peer, target, err: (err as Error).message }, `connection to ${target} refused: ${(err as Error).message}`);
        socket.destroy();
      },
    );
  }

  private detectAndServe(socket: Socket, conn: ConnectionInfo): void {
    const { opts } = this;
    detect(socket, opts.config.detectTimeoutMs).then(
      ({ protocol, timedOut }) => {
        if (protocol === 'http1' || protocol === 'h2') return this.serve(protocol, socket, conn);
        // Redirected and not HTTP (or silent: a server-speaks-first protocol): bytes as they are.
        // To where the app sent it: a mesh endpoint when discovery knows the address, else the address itself.
        if (conn.originalDst !== undefined) return openAndJoin(socket, conn.originalDst, opts.stack.openTunnel, opts.logger, `opaque ${conn.originalDst}`);
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
    if (protocol === 'h2') this.edges.h2.accept(socket, conn);
    else this.edges.http1.accept(socket, conn);
  }
}
