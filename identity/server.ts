// The CA as a gRPC service over TLS: `Certify` from api/identity.proto, one log line per issuance or refusal.
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { joinHostPort, splitHostPort } from '../api/host-port.ts';
import { createLogger } from '../api/log.ts';
import { generateRsaKeyPair } from '../api/keypair.ts';
import { caIdentityOf, type CertifyRequestMessage, type CertifyResponseMessage } from '../api/identity-proto.ts';
import { identityService } from '../api/identity-service.ts';
import type { CertificateAuthority } from './ca.ts';
import { RotatingServerCredentials } from './serving-credentials.ts';
import { certify, CertifyRefusal } from './certify.ts';
import type { TokenValidator } from './token.ts';

export interface IdentityServerOptions {
  /**
   * The issuer; a holder whose `current` changes (Kubernetes mode: a watched Secret) is read per
   * Certify, and its `onRotate` re-issues the CA's own serving certificate.
   */
  ca: CertificateAuthority | { readonly current: CertificateAuthority; onRotate?(listener: (ca: CertificateAuthority) => void): () => void };
  tokens: TokenValidator;
  trustDomain: string;
  /** Lifetime of workload certificates (clamped to the issuer's). */
  certLifetimeMs: number;
  /** `host:port`; port 0 picks a free one. */
  addr: string;
  logger?: Logger;
}

export interface RunningIdentityServer {
  /** `host:port` actually bound. */
  addr: string;
  port: number;
  /** The SPIFFE id on the server's own certificate. */
  identity: string;
  close(): Promise<void>;
}

const STATUS: Record<CertifyRefusal['status'], grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
};

const MAX_REQUEST_BYTES = 64 * 1024;

export async function startIdentityServer(options: IdentityServerOptions): Promise<RunningIdentityServer> {
  const log = options.logger ?? createLogger('identity');
  // An IPv6 address without brackets ($(POD_IP):port) is bound bracketed.
  const { host, port: wanted } = splitHostPort(options.addr, 'identity --addr');
  const identity = caIdentityOf(options.trustDomain);
  const currentCa = () => ('current' in options.ca ? options.ca.current : options.ca);
  // The CA serves with a certificate from its own issuer, so proxies need only the trust anchor.
  // It lives as long as the issuer, and is issued again by a rotated one.
  const keys = await generateRsaKeyPair();
  const ipAddresses = ['127.0.0.1', ...(isIP(host) && host !== '127.0.0.1' ? [host] : [])];
  const servingTls = (ca: CertificateAuthority) => {
    const serving = ca.issue(keys.forgePublicKey, { uri: identity, dnsNames: ['localhost', ...(isIP(host) ? [] : [host])], ipAddresses }, {
      lifetimeMs: ca.issuerNotAfterMs - Date.now(),
    });
    return { key: keys.privateKeyPem, cert: [serving.leafPem, ...serving.intermediatesPem].join('') };
  };

  // A CertifyRequest is a token and a CSR, a few KiB: refuse anything far larger before decoding it.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  server.addService(identityService().service, {
    Certify: (call: grpc.ServerUnaryCall<CertifyRequestMessage, CertifyResponseMessage>, callback: grpc.sendUnaryData<CertifyResponseMessage>) => {
      const req = call.request;
      const peer = call.getPeer();
      certify({ identity: req.identity, token: req.token.toString('utf8'), csrDer: req.certificateSigningRequest }, {
        ca: currentCa(),
        tokens: options.tokens,
        trustDomain: options.trustDomain,
        lifetimeMs: options.certLifetimeMs,
      }).then(
        (issued) => {
          log.info({ identity: req.identity, peer, serial: issued.serialHex, notAfter: new Date(issued.notAfterMs).toISOString() }, 'issued certificate');
          callback(null, { leafCertificate: issued.leafDer, intermediateCertificates: issued.intermediatesDer, validUntilMs: issued.notAfterMs });
        },
        (err: unknown) => {
          if (err instanceof CertifyRefusal) {
            log.warn({ identity: req.identity, peer, reason: err.code }, `refused certificate: ${err.message}`);
            callback({ code: STATUS[err.status], details: `${err.code}: ${err.message}` });
          } else {
            log.error({ identity: req.identity, peer, err }, 'certify failed');
            callback({ code: grpc.status.INTERNAL, details: `certify failed: ${(err as Error).message}` });
          }
        },
      );
    },
  });
  const credentials = new RotatingServerCredentials(servingTls(currentCa()));
  const stopRotating = 'onRotate' in options.ca && options.ca.onRotate ? options.ca.onRotate((ca) => credentials.rotate(servingTls(ca))) : () => {};
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(joinHostPort(host, wanted), credentials, (err, bound) => (err ? reject(new Error(`identity: cannot listen on ${options.addr}: ${err.message}`, { cause: err })) : resolve(bound))),
  );
  const addr = joinHostPort(host, port);
  log.info({ addr, identity, trustDomain: options.trustDomain, certLifetimeMs: options.certLifetimeMs }, 'identity CA listening');
  return {
    addr,
    port,
    identity,
    close: () =>
      new Promise<void>((resolve) => {
        stopRotating();
        server.tryShutdown(() => resolve());
        // Open calls get a moment to finish; then connections are cut so close() always returns.
        setTimeout(() => server.forceShutdown(), 1_000).unref();
      }),
  };
}
