// CONNECT (outbound forward-proxy mode): answer 200, then sniff the tunnel again. HTTP/1 and
// HTTP/2 inside are served as requests to the CONNECT target (so grpc-js behind `grpc_proxy`
// gets routing, metrics and retries); anything else is carried as opaque bytes. A target whose
// port is opaque (discovery says so) or skipped is not sniffed at all: a server that speaks first
// (SMTP, MySQL) is heard at once instead of after the detect timeout.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { detect } from '../detect/sniff.ts';
import { asProxyError } from '../errors.ts';
import { rawHttp1Error } from './error-response.ts';
import type { TunnelHandler } from './http1.ts';
import type { TunnelRequest } from './http1-connection.ts';
import type { ConnectionInfo } from './request-context.ts';
import { kindOpener, openAndJoin, type TunnelOpener } from './tunnel.ts';
import type { ConnectionKind } from '../outbound/stack.ts';

export interface ConnectOptions {
  logger: Logger;
  detectTimeoutMs: number;
  /** Serve a sniffed HTTP connection on the matching edge. */
  serveHttp: (protocol: 'http1' | 'h2', socket: Socket, conn: ConnectionInfo) => void;
  openTunnel: TunnelOpener;
  /** Asked before reading the tunnel: skip the mesh, carry opaque, or detect (outbound/stack.ts). */
  connectionKind: (target: string) => Promise<ConnectionKind>;
  /** Bytes to the target as named, outside the mesh (a skipped port). */
  openDirect: TunnelOpener;
}

const AUTHORITY = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function connectHandler(opts: ConnectOptions): TunnelHandler {
  return (req: TunnelRequest, duplex: Duplex, head: Buffer, conn: ConnectionInfo) => {
    const socket = duplex as Socket;
    const target = req.url ?? '';
    const m = AUTHORITY.exec(target);
    if (!m || Number(m[2]) === 0 || Number(m[2]) > 65535) {
      opts.logger.warn({ peer: conn.peer, target }, `CONNECT refused: target "${target.slice(0, 100)}" is not host:port`);
      socket.end(rawHttp1Error(400, 'Bad Request', 'BAD_REQUEST', `CONNECT target "${target.slice(0, 100)}" is not host:port`));
      return;
    }
    socket.pause(); // nothing is read until the tunnel's kind is known
    opts.connectionKind(target).then((kind) => {
      // The client may have gone while discovery answered: nothing to establish.
      if (socket.destroyed) return;
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      if (kind !== 'detect') {
        const { open, why } = kindOpener(kind, opts);
        opts.logger.debug({ peer: conn.peer, target, kind }, `CONNECT ${target}: ${why}`);
        return openAndJoin(socket, target, open, opts.logger, `CONNECT ${target}`);
      }
      const inner: ConnectionInfo = { ...conn, connectTarget: target };
      detect(socket, opts.detectTimeoutMs).then(
        ({ protocol, timedOut }) => {
          opts.logger.debug({ peer: conn.peer, target, protocol, timedOut }, `CONNECT ${target}: tunnel carries ${protocol}`);
          if (protocol === 'http1' || protocol === 'h2') return opts.serveHttp(protocol, socket, inner);
          openAndJoin(socket, target, opts.openTunnel, opts.logger, `CONNECT ${target}`);
        },
        (err: Error) => opts.logger.debug({ peer: conn.peer, target, err: err.message }, 'CONNECT tunnel closed before any bytes'),
      );
    }, (err: unknown) => {
      const e = asProxyError(err, `CONNECT ${target}`);
      opts.logger.warn({ peer: conn.peer, code: e.code, err: e.message }, `CONNECT refused: ${e.message}`);
      socket.end(rawHttp1Error(e.httpStatus, STATUS_CODES[e.httpStatus] ?? 'Error', e.code, e.message));
    });
  };
}
