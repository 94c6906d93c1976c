// The inbound listener (mesh -> app): mTLS from other proxies (a sniffed ClientHello; ALPN picks
// h2, http/1.1 or the opaque transport), plaintext from clients outside the mesh (HTTP/2
// preface, HTTP/1, the `L5D-OPAQUE` header, or raw bytes to the default app port).
import type { Socket } from 'node:net';
import { inPortRanges } from '../../api/port-ranges.ts';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config.ts';
import { detect } from '../detect/sniff.ts';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';
import { type TlsCredentials } from '../identity/credentials.ts';
import type { InboundStack } from '../inbound/stack.ts';
import type { ProxyMetrics } from '../metrics/index.ts';
import { readOpaqueHeader } from '../transport/opaque-header.ts';
import type { Drain } from './drain.ts';
import { httpEdges, type HttpEdges } from './http-edges.ts';
import { peerOf, portOf, type ConnectionInfo, type RequestIds } from './request-context.ts';
import { joinTunnel } from './tunnel.ts';
import { upgradeHandler } from './upgrade.ts';
import { targetPort } from '../inbound/stack.ts';
import { originalDst } from '../transport/original-dst.ts';

const TUNNEL_ALPN = 'transport.l5d.io/v1';

export interface InboundListenerOptions {
  config: ProxyConfig;
  stack: InboundStack;
  metrics: ProxyMetrics;
  logger: Logger;
  ids: RequestIds;
  drain: Drain;
  credentials?: TlsCredentials;
}

export class InboundListener {
  private readonly edges: HttpEdges;
  private tlsServer: TlsServer | undefined;

  constructor(private readonly opts: InboundListenerOptions) {
    const { config, stack, logger } = opts;
    this.edges = httpEdges('inbound', opts, {
      // A WebSocket from outside the mesh: tunnel to the app port the request names (or the default).
      onUpgrade: upgradeHandler({
        logger,
        open: async (_authority, req) => {
          const port = targetPort(req.headers['l5d-dst-port'] as string | undefined, config.defaultAppPort);
          // Only plaintext reaches here (a mesh peer's WebSocket arrives on the opaque transport).
          return stack.openTunnel(port, { peer: peerOf(req.socket) });
        },
      }),
    });
  }

  accept(socket: Socket): void {
    const { opts } = this;
    const peer = peerOf(socket);
    socket.on('error', (err) => opts.logger.info({ peer, err: err.message }, `connection from ${peer} broke: ${err.message}`));
    opts.drain.trackSocket(socket);
    // Redirected by proxy-init to a port that carries an opaque protocol (or that proxy-init should
    // have left alone): no detection, so a server that speaks first is heard at once.
    const redirected = opts.config.transparent ? originalDst(socket) : undefined;
    if (redirected !== undefined && this.unsniffed(portOf(redirected))) {
      opts.metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: false });
      opts.logger.debug({ peer, port: portOf(redirected) }, `connection from ${peer} to opaque port ${portOf(redirected)}: no protocol detection`);
      return this.tunnelToApp(socket, portOf(redirected), Buffer.alloc(0), peer, undefined);
    }
    detect(socket, opts.config.detectTimeoutMs).then(
      ({ protocol, timedOut }) => {
        if (protocol === 'tls') return this.acceptTls(socket, peer);
        opts.metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: false });
        // Plaintext redirected by proxy-init (a caller outside the mesh dialled the app's port): that port is the app's.
        const conn: ConnectionInfo = { peer, tls: false, originalDst: redirected };
        if (protocol === 'h2') return this.edges.h2.accept(socket, conn);
        if (protocol === 'http1') return this.edges.http1.accept(socket, conn);
        if (protocol === 'opaque-transport') return this.opaqueTransport(socket, peer, undefined);
        // Raw bytes from outside the mesh go to the port they were sent to, else the app's default port.
        const port = conn.originalDst === undefined ? opts.config.defaultAppPort : portOf(conn.originalDst);
        if (port === undefined) {
          opts.logger.warn({ peer, timedOut }, `connection from ${peer} is not HTTP and no default app port is set; closing`);
          return socket.destroy();
        }
        this.tunnelToApp(socket, port, Buffer.alloc(0), peer, undefined);
      },
      (err: Error) => opts.logger.debug({ peer, err: err.message }, 'connection closed before detection'),
    );
  }

  /** `--opaque-ports`, `--skip-inbound-ports`, or a Server's `proxyProtocol: opaque`. */
  private unsniffed(port: number): boolean {
    const { config, stack } = this.opts;
    return (config.opaquePorts !== undefined && inPortRanges(port, config.opaquePorts)) ||
      (config.skipInboundPorts !== undefined && inPortRanges(port, config.skipInboundPorts)) ||
      stack.opaquePort(port);
  }

  private acceptTls(socket: Socket, peer: string): void {
    const { opts } = this;
    if (!opts.credentials || !opts.credentials.isReady()) {
      opts.logger.warn({ peer }, `TLS from ${peer} refused: this proxy has no certificate${opts.credentials ? ' yet' : ' (running in cleartext)'}`);
      return void socket.destroy();
    }
    this.tls(opts.credentials).emit('connection', socket);
  }

  /** Made on the first TLS connection (a certificate may arrive after start), then reused. */
  private tls(credentials: TlsCredentials): TlsServer {
    if (this.tlsServer) return this.tlsServer;
    const contextOptions = () => ({ ...credentials.current(), ca: credentials.trustAnchorsPem, minVersion: 'TLSv1.3' as const });
    const server = createTlsServer({
      ...contextOptions(),
      requestCert: true,
      // Checked in onSecure instead: Node's own refusal destroys the socket without saying why
      // (the operator would read "socket hang up" for an expired or foreign certificate).
      rejectUnauthorized: false,
      ALPNProtocols: ['h2', 'http/1.1', TUNNEL_ALPN],
      handshakeTimeout: this.opts.config.detectTimeoutMs,
    });
    server.on('secureConnection', (tls: TLSSocket) => this.onSecure(tls));
    server.on('tlsClientError', (err: Error, tls: TLSSocket) => {
      const peer = peerOf(tls);
      this.opts.logger.info({ peer, err: err.message }, `TLS connection from ${peer} failed: ${err.message}`);
    });
    // A renewed certificate applies to new handshakes; open connections keep theirs.
    credentials.onRotate(() => server.setSecureContext(contextOptions()));
    this.tlsServer = server;
    return server;
  }

  private onSecure(tls: TLSSocket): void {
    const peer = peerOf(tls);
    tls.on('error', (err) => this.opts.logger.debug({ peer, err: err.message }, 'TLS connection error'));
    if (!tls.authorized) {
      // No byte of the connection has been read: refuse it before anything reaches the app.
      const why = String(tls.authorizationError ?? 'no client certificate');
      const presented = spiffeIdOfPeer(tls.getPeerCertificate()?.subjectaltname);
      this.opts.logger.warn({ peer, reason: why, presented: presented ?? null }, `TLS connection from ${peer} refused: client certificate ${presented ? `for ${presented} ` : ''}not accepted: ${why}`);
      return void tls.destroy();
    }
    const clientIdentity = spiffeIdOfPeer(tls.getPeerCertificate().subjectaltname);
    this.opts.metrics.trackConnection(tls as unknown as Socket, { direction: 'inbound', peer: 'src', tls: true, identity: clientIdentity });
    const conn: ConnectionInfo = { peer, tls: true, clientIdentity };
    const alpn = tls.alpnProtocol;
    if (alpn === 'h2') this.edges.h2.accept(tls as unknown as Socket, conn);
    else if (alpn === TUNNEL_ALPN) this.opaqueTransport(tls as unknown as Socket, peer, clientIdentity);
    else this.edges.http1.accept(tls as unknown as Socket, conn);
  }

  /** Another proxy's tunnel: `L5D-OPAQUE <port>\r\n`, then the app's bytes. */
  private opaqueTransport(socket: Socket, peer: string, identity: string | undefined): void {
    const header = readOpaqueHeader(socket, this.opts.config.detectTimeoutMs);
    socket.resume(); // detection left it paused; the header reader listens for 'data'
    header.then(
      ({ port, rest }) => this.tunnelToApp(socket, port, rest, peer, identity),
      (err: Error & { code?: string }) => {
        this.opts.logger.warn({ peer, code: err.code, err: err.message }, `opaque tunnel from ${peer} refused: ${err.message}`);
        socket.destroy();
      },
    );
  }

  /** Policy first (stack.openTunnel refuses, logs and counts), then the app's port. */
  private tunnelToApp(socket: Socket, port: number, first: Buffer, peer: string, identity: string | undefined): void {
    this.opts.stack.openTunnel(port, { peer, identity }).then(
      (app) => {
        if (first.length > 0) app.write(first);
        socket.resume();
        joinTunnel(socket, app, this.opts.logger, `${peer} -> app port ${port}`);
      },
      (err: Error & { code?: string }) => {
        // A policy refusal was logged where it was decided; anything else is logged here.
        if (err.code !== 'FORBIDDEN') this.opts.logger.warn({ peer, port, err: err.message }, `tunnel to app port ${port} failed: ${err.message}`);
        socket.destroy();
      },
    );
  }
}
