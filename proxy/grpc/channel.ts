// The proxy's gRPC channel to one control-plane server (the destination, the identity CA), on
// node:http2: one mTLS HTTP/2 session, opened when a call needs one and again after it closed.
// Reconnecting is the callers' business: a call on a server that is away fails at once with
// UNAVAILABLE, and each caller retries with its own backoff (discovery/resilient-stream.ts,
// identity/renewal.ts), so there is no second backoff hidden here.
import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import type { GrpcMethod } from '../../api/proto-codec.ts';
import { Call, unaryResult, type ClientCall } from './call.ts';
import { GrpcError, Status } from './status.ts';

export interface ChannelOptions {
  /** The server, `host:port`. */
  addr: string;
  /** What the server's certificate must chain to. */
  trustAnchorsPem: string;
  /** This proxy's certificate and key, presented to the server; absent: none (the CA, before there is one). */
  clientCertificate?: Pick<SecureContextOptions, 'key' | 'cert'>;
  /** SNI: a name, since the server is dialled by IP and SNI cannot carry one (RFC 6066). */
  servername: string;
  /** The check beyond the chain (the server's SPIFFE id): an Error refuses the server. */
  checkServerIdentity(cert: PeerCertificate): Error | undefined;
  /** While calls are open, a ping this often finds a server that vanished without a FIN (default 30 s; 0: none). */
  keepaliveMs?: number;
  /** How long such a ping may go unanswered before the connection is dropped (default 10 s). */
  keepaliveTimeoutMs?: number;
  /** How long a new connection may take to finish TLS and receive the server's HTTP/2 SETTINGS before its calls fail (default 20 s, grpc-js's). */
  connectTimeoutMs?: number;
}

/** A connection with no call open for this long is closed; the next call opens another. */
const IDLE_MS = 60_000;

/**
 * One HTTP/2 session and what is its own: the calls open on it and its keepalive. A channel has
 * at most one current connection; one it has let go (told to go away, closed) drains on its own.
 */
interface Connection {
  readonly session: ClientHttp2Session;
  /** The calls open on it: told when the server sends GOAWAY. */
  readonly calls: Set<Call<unknown, unknown>>;
  readonly stopKeepalive: () => void;
  /** Set once the server has sent GOAWAY: the bound on the calls left on it (`boundDrain`). */
  drainTimer?: NodeJS.Timeout;
}

export class GrpcChannel {
  private current: Connection | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ChannelOptions) {}

  /** A call with one request and one response, failing with DEADLINE_EXCEEDED after `timeoutMs`. */
  unary<Req, Res>(method: GrpcMethod<Req, Res>, request: Req, timeoutMs: number): Promise<Res> {
    const call = this.start(method, timeoutMs);
    call.end(request);
    return unaryResult(call, method.path);
  }

  /** A call with one request and a stream of responses (a watch); no deadline. */
  serverStream<Req, Res>(method: GrpcMethod<Req, Res>, request: Req): ClientCall<Req, Res> {
    const call = this.start(method, undefined);
    call.end(request);
    return call;
  }

  /** A call whose requests and responses are both streams (the registration); no deadline. */
  bidiStream<Req, Res>(method: GrpcMethod<Req, Res>): ClientCall<Req, Res> {
    return this.start(method, undefined);
  }

  /** No new calls; open ones go on until they end (a rotated certificate: they keep the old one). */
  close(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    // Open calls keep their connection, and its keepalive, until the last one ends: closing the
    // session now would tell the server to go away and make Node cancel every ping on it, so the
    // watches left on it would never notice a server that vanished.
    if (this.current && this.current.calls.size === 0) this.letGo(this.current);
  }

  private start<Req, Res>(method: GrpcMethod<Req, Res>, timeoutMs: number | undefined): Call<Req, Res> {
    if (this.closed) throw new GrpcError(Status.UNAVAILABLE, `the channel to ${this.options.addr} is closed`);
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': method.path,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      'user-agent': 'mesh-proxy',
      ...(timeoutMs === undefined ? {} : { 'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m` }),
    };
    const connection = this.connection();
    const stream = connection.session.request(headers, { endStream: false });
    clearTimeout(this.idleTimer);
    // Registered before the call's own listener: the connection has counted the call out before its caller hears how it ended.
    stream.on('close', () => {
      connection.calls.delete(call);
      if (connection.calls.size > 0 || connection !== this.current) return;
      if (this.closed) this.letGo(connection);
      else this.whenIdle(connection);
    });
    const call = new Call(method, stream, timeoutMs, `the server at ${this.options.addr}`);
    connection.calls.add(call as Call<unknown, unknown>);
    return call;
  }

  /** The current connection, or a new one. */
  private connection(): Connection {
    const current = this.current;
    if (current && !current.session.closed && !current.session.destroyed) return current;
    const o = this.options;
    const session = connect(`https://${o.addr}`, {
      ca: o.trustAnchorsPem,
      ...o.clientCertificate,
      servername: o.servername,
      checkServerIdentity: (_host, cert) => o.checkServerIdentity(cert),
    });
    const calls = new Set<Call<unknown, unknown>>();
    const connection: Connection = { session, calls, stopKeepalive: this.keepAlive(session, calls) };
    this.current = connection;
    // A server that takes the TCP connection but never finishes TLS, or finishes it and never
    // speaks HTTP/2, would otherwise hold every call on the connection for as long as the socket
    // lives. The connection is made once the server's SETTINGS arrive: 'connect' comes before them.
    const connectTimeoutMs = o.connectTimeoutMs ?? 20_000;
    const connectTimer = setTimeout(() => session.destroy(new Error(`connecting timed out: no TLS and HTTP/2 connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    connectTimer.unref();
    session.once('remoteSettings', () => clearTimeout(connectTimer));
    // A connection's failure reaches every call on it (as each stream's 'error'); nothing more to do here.
    session.on('error', () => {});
    // Once the server says it is going away, new calls take a new connection; open ones may finish
    // here. A graceful GOAWAY (NO_ERROR) tells them, so that a watch (which never finishes) moves
    // to a new connection now; one with an error code tears the connection down (Node destroys the
    // session at once), and its calls fail UNAVAILABLE as with any broken connection.
    session.on('goaway', (code: number) => {
      this.letGo(connection);
      this.boundDrain(connection);
      if (code === constants.NGHTTP2_NO_ERROR) for (const call of [...connection.calls]) call.connectionDraining();
    });
    session.on('close', () => {
      clearTimeout(connectTimer);
      clearTimeout(connection.drainTimer);
      this.letGo(connection);
    });
    return connection;
  }

  /**
   * The channel is done with `connection`: no new calls go to it and its keepalive stops, whether
   * the server told it to go away, it closed, or the channel is closing or idle. Node cancels a
   * ping on a session that is closing without sending it, so pinging a draining connection would
   * only pretend to check it, and the timer would outlive the session (holding it in memory).
   */
  private letGo(connection: Connection): void {
    connection.stopKeepalive();
    if (this.current === connection) this.current = undefined;
    connection.session.close(); // open calls finish; a session already closing or gone ignores this
  }

  /** The keepalive's interval and how long a ping may go unanswered, with their defaults: the ping's, and the drain bound's. */
  private get keepalive(): { every: number; timeout: number } {
    return { every: this.options.keepaliveMs ?? 30_000, timeout: this.options.keepaliveTimeoutMs ?? 10_000 };
  }

  /**
   * A connection told to go away cannot be pinged (Node cancels pings on a closing session), so a
   * server that vanished after its GOAWAY would hold the calls left on it for good. They get as long
   * as keepalive takes to notice a vanished server; then the connection is dropped and they end
   * UNAVAILABLE, for their callers to open them again on a new connection, as the GOAWAY asked.
   */
  private boundDrain(connection: Connection): void {
    const { every, timeout } = this.keepalive;
    const { session } = connection;
    if (every === 0 || connection.drainTimer || connection.calls.size === 0 || session.destroyed) return;
    const bound = every + timeout;
    connection.drainTimer = setTimeout(
      () => session.destroy(new Error(`the server sent GOAWAY and the calls left on its connection did not end within ${bound} ms`)),
      bound,
    );
    connection.drainTimer.unref();
  }

  /** While `calls` (those open on the session) has any, a ping every `keepaliveMs`; one unanswered in time drops the session. Returns how to stop. */
  private keepAlive(session: ClientHttp2Session, calls: ReadonlySet<unknown>): () => void {
    const { every, timeout } = this.keepalive;
    if (every === 0) return () => {};
    /** The wait for the ping in flight; a session destroyed meanwhile may never call the ping back. */
    let unanswered: NodeJS.Timeout | undefined;
    const timer = setInterval(() => {
      // Only while calls are open, as grpc-js by default. A session destroyed by an error is let go
      // at its 'close', which comes later: ping() would throw on it meanwhile.
      // One ping at a time: a new one would restart the wait, and a timeout longer than the
      // interval would then never run out, however long the server had been gone.
      if (calls.size === 0 || session.closed || session.destroyed || unanswered) return;
      const wait = setTimeout(() => session.destroy(new Error(`keepalive ping not answered within ${timeout} ms`)), timeout);
      wait.unref();
      unanswered = wait;
      // Answered, or failed because the session is already gone: either way nothing to cut.
      session.ping(() => {
        clearTimeout(wait);
        unanswered = undefined;
      });
    }, every);
    timer.unref();
    return () => {
      clearInterval(timer);
      clearTimeout(unanswered);
    };
  }

  /** No call left: the connection is closed after a while, so an idle proxy holds no socket it does not use. */
  private whenIdle(connection: Connection): void {
    this.idleTimer = setTimeout(() => {
      if (connection.calls.size === 0 && this.current === connection) this.letGo(connection);
    }, IDLE_MS);
    this.idleTimer.unref();
  }
}
