// The tap server on the proxy's tap port (4190): gRPC over mTLS with the proxy's own
// certificate, answering `Tap.Observe` for the viz's identity only.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { tapIdentityOf, tapService, type ObserveRequest } from '../../api/tap-proto.ts';
import { parseSpiffeId, spiffeIdOfPeer } from '../../api/spiffe.ts';
import type { TlsCredentials } from '../identity/credentials.ts';
import { BatchedSink } from './batched-sink.ts';
import { TapError } from './errors.ts';
import type { TapHub } from './hub.ts';

export interface TapServerOptions {
  hub: TapHub;
  credentials: TlsCredentials;
  host: string;
  port: number;
  logger: Logger;
}

/** Asks every client for a certificate and checks its chain, but lets the handshake succeed without one: the call is then refused with a reason. */
class TapServerCredentials extends grpc.ServerCredentials {
  constructor(credentials: TlsCredentials) {
    super({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, { ...credentials.current(), ca: credentials.trustAnchorsPem });
  }

  rotate(credentials: TlsCredentials): void {
    this.updateSecureContextOptions({ ...credentials.current(), ca: credentials.trustAnchorsPem });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

const GRPC_STATUS = { TAP_FORBIDDEN: grpc.status.PERMISSION_DENIED, TAP_TOO_MANY: grpc.status.RESOURCE_EXHAUSTED, TAP_BAD_MATCH: grpc.status.INVALID_ARGUMENT } as const;

export class TapServer {
  private readonly server = new grpc.Server();
  private readonly allowed: string;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: TapServerOptions) {
    const trustDomain = parseSpiffeId(opts.credentials.identity)?.trustDomain ?? 'cluster.local';
    this.allowed = tapIdentityOf(trustDomain);
    // The events come encoded (api/tap-encode.ts: a request's shared fields once, not proto-loader's serializer per event).
    const service = Object.fromEntries(Object.entries(tapService().service).map(([name, method]) => [name, { ...method, responseSerialize: (event: Buffer) => event }]));
    this.server.addService(service, { observe: (call: grpc.ServerWritableStream<ObserveRequest, Buffer>) => this.observe(call) });
  }

  /** Binds once the proxy holds a certificate; resolves with the port (the configured one may be 0). */
  async listen(): Promise<number> {
    await this.opts.credentials.whenReady();
    const creds = new TapServerCredentials(this.opts.credentials);
    this.unsubscribe = this.opts.credentials.onRotate(() => creds.rotate(this.opts.credentials));
    const where = this.opts.host.includes(':') ? `[${this.opts.host}]:${this.opts.port}` : `${this.opts.host}:${this.opts.port}`;
    return new Promise((resolve, reject) =>
      this.server.bindAsync(where, creds, (err, port) => (err ? reject(new Error(`tap: cannot listen on ${where}: ${err.message}`)) : resolve(port))),
    );
  }

  /** Ends every tap (with its `tap_end`) and stops the server. */
  close(): Promise<void> {
    this.unsubscribe?.();
    this.opts.hub.close();
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1_000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private observe(call: grpc.ServerWritableStream<ObserveRequest, Buffer>): void {
    const { logger, hub } = this.opts;
    const cert = call.getAuthContext().sslPeerCertificate as { subjectaltname?: string } | undefined;
    const caller = cert ? spiffeIdOfPeer(cert.subjectaltname) : undefined;
    try {
      if (caller !== this.allowed) {
        const who = caller ? `the caller presented ${caller}` : 'the caller presented no client certificate that chains to this mesh\'s trust anchors';
        throw new TapError('TAP_FORBIDDEN', `only ${this.allowed} (the viz) may tap this proxy; ${who}`);
      }
      const sink = new BatchedSink(call);
      const tap = hub.open(call.request, sink);
      // The caller cancelled, hit its deadline, or its connection went away: free the slot now.
      const gone = () => {
        sink.discard();
        tap.close();
      };
      call.on('cancelled', gone);
      call.on('close', gone);
      call.on('error', gone);
      // The response headers now, not with the first event: the tapper knows its tap is open
      // (not refused, not still connecting) even while no request matches.
      call.sendMetadata(new grpc.Metadata());
      logger.info({ caller, peer: call.getPeer(), taps: hub.taps.length }, 'tap opened');
    } catch (err) {
      const e = err instanceof TapError ? err : new TapError('TAP_BAD_MATCH', (err as Error).message);
      logger.info({ caller: caller ?? null, peer: call.getPeer(), code: e.code, reason: e.message }, 'tap refused');
      call.emit('error', { code: GRPC_STATUS[e.code], details: e.message });
    }
  }
}
