// HTTP/1.1 Upgrade (WebSocket): the request head is replayed on a byte tunnel to the target,
// whose answer (101 or a refusal) goes back raw; from then on bytes flow both ways.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { asProxyError } from '../errors.ts';
import { pathForLog, rawHttp1Error } from './error-response.ts';
import type { TunnelHandler } from './http1.ts';
import type { TunnelRequest } from './http1-connection.ts';
import { requestTarget } from './http1-request.ts';
import type { ConnectionInfo } from './request-context.ts';
import { joinTunnel, type TunnelOpener } from './tunnel.ts';

/** Headers that belong to the client's hop to this proxy and never travel on. */
const CLIENT_HOP = new Set(['proxy-connection', 'proxy-authorization', 'l5d-dst-port']);

export interface UpgradeOptions {
  logger: Logger;
  /** Where the tunnel goes: outbound, the request's authority; inbound, the app port for it. */
  open: (authority: string, req: TunnelRequest) => Promise<Duplex>;
}

export function upgradeHandler(opts: UpgradeOptions): TunnelHandler {
  return (req: TunnelRequest, socket: Duplex, head: Buffer, conn: ConnectionInfo) => {
    socket.on('error', () => {});
    const host = req.headers.host;
    const target = requestTarget(req.url ?? '', host, conn.connectTarget, conn.originalDst);
    if (target instanceof Error) {
      opts.logger.warn({ peer: conn.peer, path: pathForLog(req.url) }, `upgrade refused: ${target.message}`);
      socket.end(rawHttp1Error(400, 'Bad Request', target.code, target.message));
      return;
    }
    opts.open(target.authority, req).then(
      (upstream) => {
        if (socket.destroyed) return upstream.destroy();
        upstream.write(requestHead(req, target.path));
        if (head.length > 0) upstream.write(head);
        joinTunnel(socket, upstream, opts.logger, `upgrade ${req.headers.upgrade} ${target.authority}`);
      },
      (err: unknown) => {
        const e = asProxyError(err, `upgrade to ${target.authority}`);
        opts.logger.warn({ peer: conn.peer, code: e.code, err: e.message }, `upgrade failed: ${e.message}`);
        socket.end(rawHttp1Error(e.httpStatus, 'Proxy Error', e.code, e.message));
      },
    );
  };
}

function requestHead(req: TunnelRequest, path: string): string {
  let head = `${req.method} ${path} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (CLIENT_HOP.has(raw[i]!.toLowerCase())) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return `${head}\r\n`;
}

export type { TunnelOpener };
