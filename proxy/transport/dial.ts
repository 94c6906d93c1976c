// Opens one connection to an endpoint: plain TCP, or mTLS (TLS 1.3) with ALPN and an exact check
// of the identity the peer's certificate carries. Every client of the endpoint tier dials here.
import net, { type Socket } from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import { ProxyError } from '../errors.ts';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';
import { type TlsCredentials } from '../identity/credentials.ts';
import { clientSecureContext } from './client-context.ts';

export interface DialTls {
  credentials: TlsCredentials;
  /** The one ALPN protocol asked for: `h2`, `http/1.1` or `transport.l5d.io/v1`. */
  alpn: string;
  /** The SPIFFE id the peer must present, exactly. */
  identity: string;
}

export interface DialOptions {
  host: string;
  port: number;
  /** What errors call the target: `endpoint 127.0.10.2:8080 (via 127.0.10.2:4143)`. */
  label: string;
  connectTimeoutMs: number;
  /** The local address to connect from (the pod IP); absent: the kernel chooses. */
  localAddress?: string;
  /** Absent: plaintext. */
  tls?: DialTls;
}

export type DialCallback = (err: ProxyError | null, socket?: Socket) => void;

/** Connects and calls back once, with a connected (and, for TLS, verified) socket or a CONNECT_FAILED / IDENTITY_MISMATCH error. */
export function dial(opts: DialOptions, callback: DialCallback): void {
  let socket: Socket;
  try {
    socket = opts.tls ? connectTls(opts, opts.tls) : net.connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress, noDelay: true });
  } catch (err) {
    // credentials.current() throws until a certificate is issued; bad TLS material throws too.
    process.nextTick(callback, connectError(opts, err));
    return;
  }
  let settled = false;
  const finish = (err: ProxyError | null): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('error', onError);
    socket.removeListener(readyEvent, onReady);
    if (err) {
      socket.destroy();
      callback(err);
    } else {
      callback(null, socket);
    }
  };
  const onError = (err: Error): void => finish(connectError(opts, err));
  const onReady = (): void => {
    if (opts.tls && (socket as tls.TLSSocket).alpnProtocol !== opts.tls.alpn) {
      const got = (socket as tls.TLSSocket).alpnProtocol || 'none';
      finish(new ProxyError('CONNECT_FAILED', `${opts.label}: peer did not agree to ALPN ${opts.tls.alpn} (got ${got})`));
      return;
    }
    finish(null);
  };
  const readyEvent = opts.tls ? 'secureConnect' : 'connect';
  const timer = setTimeout(() => {
    finish(new ProxyError('CONNECT_FAILED', `${opts.label}: connect timed out after ${opts.connectTimeoutMs} ms`));
  }, opts.connectTimeoutMs);
  socket.on('error', onError);
  socket.once(readyEvent, onReady);
}

export function dialAsync(opts: DialOptions): Promise<Socket> {
  return new Promise((resolve, reject) => dial(opts, (err, socket) => (err ? reject(err) : resolve(socket!))));
}

function connectTls(opts: DialOptions, t: DialTls): tls.TLSSocket {
  // The current certificate's context, asked for every connection, so a renewed certificate
  // applies to new connections while open ones continue with the old one.
  const secureContext = clientSecureContext(t.credentials);
  // tls.connect hands these options to net.Socket#connect, which binds `localAddress`; Node's
  // typings leave that field out of tls.ConnectionOptions, hence the wider type.
  const options: tls.ConnectionOptions & { localAddress?: string } = {
    host: opts.host,
    port: opts.port,
    localAddress: opts.localAddress,
    secureContext,
    ALPNProtocols: [t.alpn],
    // The chain is verified against the trust anchors first; then the identity must match
    // exactly: a valid certificate for another workload is still the wrong peer.
    checkServerIdentity: (_host: string, peerCert: PeerCertificate) => {
      const presented = spiffeIdOfPeer(peerCert.subjectaltname);
      if (presented === t.identity) return undefined;
      return new ProxyError(
        'IDENTITY_MISMATCH',
        `${opts.label}: expected identity ${t.identity}, but the peer presented ${presented ?? 'no SPIFFE identity'}`,
      );
    },
  };
  const socket = tls.connect(options);
  // Small frames (HTTP/2 SETTINGS, gRPC messages) must not wait for Nagle.
  socket.setNoDelay(true);
  return socket;
}

function connectError(opts: DialOptions, err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const message = err instanceof Error ? err.message : String(err);
  let what: string;
  if (code === 'ECONNREFUSED') what = 'connect refused';
  else if (code === 'ECONNRESET') what = 'connection reset during connect';
  else if (code === 'ETIMEDOUT') what = 'connect timed out';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') what = `cannot resolve ${opts.host}`;
  else if (code && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SIGNATURE|ISSUER/.test(code)))
    what = `TLS handshake failed: ${message}`;
  else what = `connect failed: ${message}`;
  return new ProxyError('CONNECT_FAILED', `${opts.label}: ${what}`, { cause: err });
}
