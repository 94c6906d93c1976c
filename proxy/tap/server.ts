// The tap server on the proxy's tap port (4190): gRPC over mTLS with the proxy's own
// certificate, answering `Tap.Observe` for the viz's identity only. Served on node:http2 itself
// (observe-call.ts holds the gRPC wire), so that a batch of events is one write, not one per event.
import { createSecureServer, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { tapIdentityOf, type ObserveRequest } from '../../api/tap-proto.ts';
import { messageCodec, type MessageCodec } from '../../api/proto-codec.ts';
import { parseSpiffeId, spiffeIdOfPeer } from '../../api/spiffe.ts';
import type { TlsCredentials } from '../identity/credentials.ts';
import { BatchedSink } from './batched-sink.ts';
import { TapError } from './errors.ts';
import type { TapHub } from './hub.ts';
import { grpcTimeoutMs, ObserveCall, readRequestMessage } from './observe-call.ts';
import { Status } from '../grpc/status.ts';
import { peerOf } from '../server/request-context.ts';
import { joinHostPort } from '../../api/host-port.ts';

export interface TapServerOptions {
  hub: TapHub;
  credentials: TlsCredentials;
  host: string;
  port: number;
  logger: Logger;
}

/** The one method served, as gRPC names it on the wire. */
const OBSERVE_PATH = '/mesh.tap.v1.Tap/Observe';
const GRPC_STATUS = { TAP_FORBIDDEN: Status.PERMISSION_DENIED, TAP_TOO_MANY: Status.RESOURCE_EXHAUSTED, TAP_BAD_MATCH: Status.INVALID_ARGUMENT } as const;
/** How long close() lets taps' last events and trailers drain before it cuts the connections. */
const CLOSE_GRACE_MS = 1_000;

export class TapServer {
  private server: Http2SecureServer | undefined;
  private readonly sessions = new Set<Http2Session>();
  private readonly allowed: string;
  /** ObserveRequest's codec (api/proto-codec.ts: field names, enums as strings, defaults); made at the first tap, so an untapped proxy never parses tap.proto. */
  private observeRequest: MessageCodec<ObserveRequest> | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(private readonly opts: TapServerOptions) {
    const trustDomain = parseSpiffeId(opts.credentials.identity)?.trustDomain ?? 'cluster.local';
    this.allowed = tapIdentityOf(trustDomain);
  }

  /** Binds once the proxy holds a certificate; resolves with the port (the configured one may be 0), or 0 if closed before that. */
  async listen(): Promise<number> {
    const { credentials, host, port } = this.opts;
    await credentials.whenReady();
    if (this.closed) return 0;
    // Every client is asked for a certificate and its chain is checked, but the handshake succeeds
    // without one: the call is then refused with a reason, not a TLS alert.
    const tlsOptions = () => ({ ...credentials.current(), ca: credentials.trustAnchorsPem });
    const server = (this.server = createSecureServer({ ...tlsOptions(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'] }));
    this.unsubscribe = credentials.onRotate(() => server.setSecureContext(tlsOptions()));
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {}); // a tapper's broken connection is its own affair; its streams close
    });
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    const where = joinHostPort(host, port);
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`tap: cannot listen on ${where}: ${err.message}`)));
      server.listen(port, host, () => resolve((server.address() as { port: number }).port));
    });
  }

  /** Ends every tap (with its `tap_end`) and stops the server. */
  close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    this.opts.hub.close();
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        for (const session of this.sessions) session.destroy();
      }, CLOSE_GRACE_MS);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      // Idle tappers' connections would hold the server open: ask each to go away once its streams end.
      for (const session of this.sessions) session.close();
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {}); // a reset by the tapper ends its tap through 'close'
    const call = new ObserveCall(stream);
    if (headers[':path'] !== OBSERVE_PATH) {
      stream.resume();
      return call.end(Status.UNIMPLEMENTED, `this server serves ${OBSERVE_PATH} only, not ${String(headers[':path'])}`);
    }
    if (!String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.resume();
      return call.end(Status.INVALID_ARGUMENT, `content-type must be application/grpc, not ${String(headers['content-type'] ?? 'none')}`);
    }
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = peerOf(socket);
    // Only a certificate that chained to the trust anchors names anyone. Checked before the
    // request is read: a caller who may not tap gets nothing parsed.
    const caller = socket?.authorized ? spiffeIdOfPeer(socket.getPeerCertificate().subjectaltname) : undefined;
    if (caller !== this.allowed) {
      const who = caller ? `the caller presented ${caller}` : 'the caller presented no client certificate that chains to this mesh\'s trust anchors';
      stream.resume();
      return this.refuse(call, peer, caller, new TapError('TAP_FORBIDDEN', `only ${this.allowed} (the viz) may tap this proxy; ${who}`));
    }
    readRequestMessage(stream).then(
      (bytes) => this.observe(stream, headers, call, bytes, peer, caller),
      (err: Error) => this.refuse(call, peer, caller, new TapError('TAP_BAD_MATCH', `malformed ObserveRequest: ${err.message}`)),
    );
  }

  private refuse(call: ObserveCall, peer: string, caller: string | undefined, e: TapError): void {
    this.opts.logger.info({ caller: caller ?? null, peer, code: e.code, reason: e.message }, 'tap refused');
    call.end(GRPC_STATUS[e.code], e.message);
  }

  private observe(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, call: ObserveCall, bytes: Buffer, peer: string, caller: string): void {
    const { logger, hub } = this.opts;
    if (call.closed) return;
    try {
      let request: ObserveRequest;
      try {
        request = (this.observeRequest ??= messageCodec<ObserveRequest>('tap', 'mesh.tap.v1.ObserveRequest')).decode(bytes);
      } catch (err) {
        throw new TapError('TAP_BAD_MATCH', `malformed ObserveRequest: ${(err as Error).message}`);
      }
      const sink = new BatchedSink(call);
      const tap = hub.open(request, sink);
      const timeoutMs = grpcTimeoutMs(headers['grpc-timeout']);
      const deadline =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              tap.close();
              sink.discard();
              call.end(Status.DEADLINE_EXCEEDED, 'the tap\'s deadline passed');
            }, timeoutMs);
      // The caller cancelled, hit its deadline, or its connection went away; or the tap ended: free the slot now.
      stream.once('close', () => {
        clearTimeout(deadline);
        sink.discard();
        tap.close();
      });
      // The response headers now, not with the first event: the tapper knows its tap is open
      // (not refused, not still connecting) even while no request matches.
      call.open();
      logger.info({ caller, peer, taps: hub.taps.length }, 'tap opened');
    } catch (err) {
      this.refuse(call, peer, caller, err instanceof TapError ? err : new TapError('TAP_BAD_MATCH', (err as Error).message));
    }
  }
}
