// The proxy's identity: makes its key and CSR once, gets a certificate from the CA over TLS,
// renews it at 70% of its lifetime, retries with jittered backoff, and tells listeners after each swap.
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from '../metrics/prom-client-parts.ts';
import { createLogger } from '../../api/log.ts';
import { parseSpiffeId, serverIdentityCheck } from '../../api/spiffe.ts';
import { type TlsCredentials } from './credentials.ts';
import { createCsrDer } from './csr.ts';
import { caIdentityOf, type CertifyRequestMessage, type CertifyResponseMessage } from '../../api/identity-proto.ts';
import { grpcMethod, type GrpcMethod } from '../../api/proto-codec.ts';
import { GrpcChannel } from '../grpc/channel.ts';
import type { GrpcError } from '../grpc/status.ts';
import { generateRsaKeys, type RsaKeys } from '../../api/rsa-keys.ts';
import { chainPemFromResponse, RetryDelay } from './renewal.ts';

export interface IdentityClientOptions {
  /** The CA, `host:port` (DESIGN.md: 127.0.0.1:8080). */
  addr: string;
  /** PEM trust anchors: the CA's serving certificate and every peer must chain to them. */
  trustAnchorsPem: string;
  /** This proxy's SPIFFE id. */
  identity: string;
  /** The service-account token, or a function read before every call (tokens rotate on disk). */
  token: string | (() => string | Promise<string>);
  /** The proxy's metrics registry; a private one if absent. */
  registry?: Registry;
  logger?: Logger;
  /** Fraction of the lifetime after which to renew (0.7). */
  renewAt?: number;
  /** Backoff between failed calls, jittered (250 ms doubling to 10 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Deadline of one Certify call (10 s). */
  callTimeoutMs?: number;
}

/** Reads a token file before every call, so a refreshed token is picked up without a restart. */
export function tokenFromFile(path: string): () => Promise<string> {
  return async () => (await readFile(path, 'utf8')).trim();
}

interface Held {
  keyPem: string;
  certChainPem: string;
  validUntilMs: number;
}

export class IdentityClient implements TlsCredentials {
  readonly identity: string;
  readonly trustAnchorsPem: string;
  private held: Held | undefined;
  private readonly events = new EventEmitter();
  private readonly ready: Promise<void>;
  private markReady!: () => void;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly channel: GrpcChannel;
  private readonly certifyMethod: GrpcMethod<CertifyRequestMessage, CertifyResponseMessage>;
  private readonly log: Logger;
  private readonly retry: RetryDelay;
  private readonly expiry: Gauge;
  private readonly renewals: Counter<'result'>;

  constructor(private readonly options: IdentityClientOptions) {
    const id = parseSpiffeId(options.identity);
    if (!id) throw new Error(`identity: "${options.identity}" is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>`);
    this.identity = options.identity;
    this.trustAnchorsPem = options.trustAnchorsPem;
    this.log = options.logger ?? createLogger('identity-client', { fields: { identity: options.identity } });
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.retry = new RetryDelay(options.retryMinMs ?? 250, options.retryMaxMs ?? 10_000);
    const registry = options.registry ?? new Registry();
    this.expiry = new Gauge({ name: 'identity_cert_expiration_timestamp_seconds', help: 'Expiry of the proxy\'s current certificate (Unix seconds).', registers: [registry] });
    this.renewals = new Counter({ name: 'identity_cert_renewals_total', help: 'Certify calls by result (success = a new certificate is in use).', labelNames: ['result'], registers: [registry] });
    const caIdentity = caIdentityOf(id.trustDomain);
    this.certifyMethod = grpcMethod('identity', 'mesh.identity.v1.Identity', 'Certify');
    // No client certificate: the proxy has none until this channel gets it one. A failed call is
    // retried by `attempt` below with our backoff, so the proxy is ready within retryMaxMs of the CA coming back.
    this.channel = new GrpcChannel({
      addr: options.addr,
      trustAnchorsPem: options.trustAnchorsPem,
      // SNI cannot carry an IP address (RFC 6066); the name only needs to be one the CA's certificate has.
      servername: 'localhost',
      // The chain is checked against the anchors by TLS; here we require the CA's own SPIFFE id,
      // so only the mesh CA (not any workload with a valid certificate) can hand out identities,
      // or see this proxy's token: the check refuses the handshake, before any request is sent.
      checkServerIdentity: serverIdentityCheck(`the identity CA at ${options.addr}`, caIdentity),
    });
    void this.start();
  }

  private async start(): Promise<void> {
    let keys: RsaKeys;
    try {
      keys = await generateRsaKeys();
    } catch (err) {
      this.log.fatal({ err }, 'cannot generate the proxy key pair');
      return;
    }
    // One key for the life of the proxy, as Linkerd does: the CSR is made once and re-sent at every renewal.
    const csr = createCsrDer(this.identity, keys.privateKey);
    const attempt = async (): Promise<void> => {
      if (this.closed) return;
      let next: number;
      try {
        const res = await this.certify(csr);
        const validUntilMs = Number(res.validUntilMs);
        this.held = { keyPem: keys.privateKeyPem, certChainPem: chainPemFromResponse(res, this.identity, keys.privateKey), validUntilMs };
        this.expiry.set(validUntilMs / 1000);
        this.renewals.inc({ result: 'success' });
        this.retry.reset();
        next = Math.max(1_000, (validUntilMs - Date.now()) * (this.options.renewAt ?? 0.7));
        this.log.info({ validUntil: new Date(validUntilMs).toISOString(), renewInMs: Math.round(next) }, 'certificate issued');
        this.markReady();
        this.events.emit('rotate');
      } catch (err) {
        this.renewals.inc({ result: 'failure' });
        next = this.retry.next();
        const e = err as GrpcError;
        this.log.warn({ ca: this.options.addr, code: e.code, retryInMs: next, holding: this.held !== undefined }, `Certify failed: ${e.details ?? e.message}`);
        if (this.held && this.held.validUntilMs <= Date.now()) this.log.error({ validUntil: new Date(this.held.validUntilMs).toISOString() }, 'certificate expired and renewal keeps failing');
      }
      if (!this.closed) this.timer = setTimeout(() => void attempt(), next);
    };
    await attempt();
  }

  private async certify(csr: Buffer): Promise<CertifyResponseMessage> {
    const token = typeof this.options.token === 'string' ? this.options.token : await this.options.token();
    const request: CertifyRequestMessage = { identity: this.identity, token: Buffer.from(token), certificateSigningRequest: csr };
    return this.channel.unary(this.certifyMethod, request, this.options.callTimeoutMs ?? 10_000);
  }

  current(): Pick<SecureContextOptions, 'key' | 'cert'> {
    if (!this.held) throw new Error(`identity: no certificate for ${this.identity} yet (CA ${this.options.addr})`);
    return { key: this.held.keyPem, cert: this.held.certChainPem };
  }

  isReady(): boolean {
    return this.held !== undefined;
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  /** notAfter of the current certificate (ms), or undefined before the first one. */
  validUntilMs(): number | undefined {
    return this.held?.validUntilMs;
  }

  onRotate(listener: () => void): () => void {
    this.events.on('rotate', listener);
    return () => this.events.off('rotate', listener);
  }

  /** Stops renewing and closes the channel; the held certificate stays usable until it expires. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.channel.close();
  }
}
