// The endpoint tier: how this proxy sends to one endpoint (connect, mTLS, identity check, pool or
// session), cached per endpoint and evicted when idle. Outbound uses it toward other proxies;
// inbound uses it toward its own app (`address: POD_IP:appPort`, no inbound port: plaintext).
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint } from '../../../api/destination-types.ts';
import type { MeshRequest, Service, WireProtocol } from '../../http/message.ts';
import type { TlsCredentials } from '../../identity/credentials.ts';
import { dialAsync } from '../../transport/dial.ts';
import { writeOpaqueHeader } from '../../transport/opaque-header.ts';
import { H2Client } from './h2-client.ts';
import { Http1Client } from './http1-client.ts';
import { dialTlsFor, endpointKey, endpointTarget, type EndpointTarget } from './target.ts';

/** ALPN for raw tunnels between proxies (Linkerd's name for its transport header protocol). */
export const TUNNEL_ALPN = 'transport.l5d.io/v1';

/** What the connector needs from proxy/metrics (kept local so either side can change alone). */
export interface ConnectionTracker {
  trackConnection(
    socket: Socket,
    labels: { direction: 'inbound' | 'outbound'; peer: 'src' | 'dst'; tls: boolean; authority?: string; identity?: string; dst?: Readonly<Record<string, string>> },
  ): void;
}

export interface EndpointConnectorOptions {
  credentials?: TlsCredentials;
  metrics?: ConnectionTracker;
  logger: Logger;
  /**
   * This proxy's pod IP: connections are dialled from it, so the peer's inbound proxy sees which
   * pod calls (its CIDR rules and probe exemption depend on that) instead of 127.0.0.1.
   */
  podIp?: string;
  /** Which side of the proxy this connector serves, for connection metrics (default outbound). */
  direction?: 'inbound' | 'outbound';
  /** Most HTTP/1.1 connections per endpoint (default 256); keep it at or above peak concurrency. */
  http1Connections?: number;
  connectTimeoutMs?: number;
  /** Idle keep-alive connections close after this (default 4 s: below Node's 5 s server keep-alive). */
  idleTimeoutMs?: number;
  /**
   * The same for mTLS connections to another proxy's inbound port (default 30 s): a new one
   * costs a handshake (~4 ms of CPU on each side), and the peer keeps them 60 s unless set
   * otherwise (the pool also honours its `Keep-Alive: timeout=N` when shorter). Only mTLS: a
   * plaintext connection is told apart by its first bytes, and one the pool opened but left
   * unused past the peer's detect timeout (10 s) would be taken for opaque TCP and tunnelled
   * to the app, its requests never seen by the peer's HTTP stack. Plaintext hops keep
   * `idleTimeoutMs`, below that timeout; a TLS connection is detected by its ClientHello.
   */
  proxyIdleTimeoutMs?: number;
  /**
   * An HTTP/2 session with no stream open for this long closes (default 60 s): reconnecting
   * costs a TLS handshake, and one session per endpoint is cheap to keep.
   */
  sessionIdleTimeoutMs?: number;
  /** An endpoint unused this long has its clients closed and dropped (default 60 s). */
  endpointIdleMs?: number;
}

interface EndpointClients {
  target: EndpointTarget;
  service: Service;
  http1?: Http1Client;
  h2?: H2Client;
  /** The protocol's client, made on first use: most endpoints only ever see one. */
  client(protocol: WireProtocol): Http1Client | H2Client;
  /** Set on use, cleared by each sweep: two sweeps without use evict. */
  used: boolean;
  /** Closed by a sweep; a caller still holding `service` is sent to a fresh entry. */
  evicted: boolean;
  /** Discovery's metric labels for this endpoint (the latest Endpoint object's), for `dst_*` labels. */
  dst: Readonly<Record<string, string>> | undefined;
}

export class EndpointConnector {
  private readonly byKey = new Map<string, EndpointClients>();
  // Discovery hands out the same Endpoint objects until they change: skip building the key.
  private byEndpoint = new WeakMap<Endpoint, EndpointClients>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly http1Connections: number;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly direction: 'inbound' | 'outbound';

  constructor(private readonly opts: EndpointConnectorOptions) {
    this.http1Connections = opts.http1Connections ?? 256;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3_000;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 4_000;
    this.direction = opts.direction ?? 'outbound';
    this.sweeper = setInterval(() => this.sweep(), opts.endpointIdleMs ?? 60_000);
    this.sweeper.unref();
  }

  service(ep: Endpoint): Service {
    let entry = this.byEndpoint.get(ep);
    if (!entry) {
      const key = endpointKey(ep);
      try {
        entry = this.byKey.get(key) ?? this.create(ep);
      } catch (err) {
        // A malformed address from discovery fails the request, not the caller's stack.
        return () => Promise.reject(err);
      }
      // A new Endpoint object for the same address (discovery sent an update): its labels win.
      entry.dst = ep.metricLabels;
      this.byEndpoint.set(ep, entry);
    }
    entry.used = true;
    return entry.service;
  }

  /**
   * Opens one connection to `ep` for `protocol` ahead of its first request (an endpoint that has
   * just joined a balancer), so that no request pays for its handshake. Resolves once the
   * connection is up, or has failed: a failure is left for the first request to meet and report.
   */
  preconnect(ep: Endpoint, protocol: WireProtocol): Promise<void> {
    let entry: EndpointClients;
    try {
      entry = this.byKey.get(endpointKey(ep)) ?? this.create(ep);
    } catch {
      return Promise.resolve(); // a malformed address: the request will say so
    }
    entry.used = true;
    return entry.client(protocol).preconnect();
  }

  /** A raw byte stream to the endpoint: opaque TCP, CONNECT to a non-HTTP target, WebSocket upgrades. */
  async openTunnel(ep: Endpoint): Promise<Duplex> {
    const target = endpointTarget(ep, this.opts.credentials, this.opts.podIp);
    const tls = dialTlsFor(target, TUNNEL_ALPN);
    const socket = await dialAsync({
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      label: target.label,
      connectTimeoutMs: this.connectTimeoutMs,
      tls,
    });
    this.track(target, socket, tls !== undefined, ep.metricLabels);
    // Through a proxy, the first bytes name the workload's port; the bytes after are the app's.
    if (target.dstPort !== undefined) writeOpaqueHeader(socket, target.dstPort);
    return socket;
  }

  /**
   * Closes every pool and session: requests in flight may finish for `graceMs` (default 5 s),
   * then whatever is left is cut, so a long poll cannot hold a shutdown forever.
   */
  async close(graceMs = 5_000): Promise<void> {
    clearInterval(this.sweeper);
    const entries = [...this.byKey.values()];
    this.byKey.clear();
    this.byEndpoint = new WeakMap();
    for (const e of entries) e.evicted = true;
    const graceful = Promise.all(entries.map((e) => closeClients(e)));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(resolve, graceMs, 'expired')));
    const outcome = await Promise.race([graceful, expired]);
    clearTimeout(timer);
    if (outcome === 'expired') await Promise.all(entries.map((e) => Promise.all([e.http1?.destroy(), e.h2?.destroy()])));
  }

  private create(ep: Endpoint): EndpointClients {
    const target = endpointTarget(ep, this.opts.credentials, this.opts.podIp);
    const onConnection = (socket: Socket, tls: boolean): void => this.track(target, socket, tls, entry.dst);
    const entry: EndpointClients = {
      target, used: true, evicted: false, dst: ep.metricLabels, service: undefined as unknown as Service,
      // Clients are made on first use of each protocol: most endpoints only ever see one.
      client: (protocol) => (protocol === 'h2' ? h2() : http1()),
    };
    const http1 = (): Http1Client =>
      (entry.http1 ??= new Http1Client(target, {
        connections: this.http1Connections,
        idleTimeoutMs: target.dstPort !== undefined && target.identity !== undefined ? (this.opts.proxyIdleTimeoutMs ?? 30_000) : this.idleTimeoutMs,
        connectTimeoutMs: this.connectTimeoutMs,
        onConnection,
        logger: this.opts.logger,
      }));
    const h2 = (): H2Client =>
      (entry.h2 ??= new H2Client(target, {
        idleTimeoutMs: this.opts.sessionIdleTimeoutMs ?? 60_000,
        connectTimeoutMs: this.connectTimeoutMs,
        logger: this.opts.logger,
        onConnection,
      }));
    // Outbound HTTP metrics are labelled by the hop's security and its destination: the metrics
    // layers above read `tls`, `server_id` and `dstLabels` from the shared context after this
    // call, and only this tier knows whether the endpoint is reached over mTLS, as whom, and
    // which pod it is. Set on every request (not only mTLS ones) so a retry moved to a plaintext
    // endpoint does not keep the previous labels.
    // Inbound leaves them alone: there `tls` describes the caller's connection, not the app's.
    const labelHop = this.direction === 'outbound';
    const tlsLabel = target.identity ? 'true' : 'false';
    entry.service = (req: MeshRequest) => {
      if (entry.evicted) return this.service(ep)(req);
      // Callers may keep this Service (the inbound stack does, per app port): mark use per request.
      entry.used = true;
      if (labelHop) {
        const labels = req.ctx.labels;
        labels.tls = tlsLabel;
        if (target.identity) labels.server_id = target.identity;
        else if (labels.server_id) labels.server_id = ''; // empty: no label (see http-labels.ts)
        req.ctx.journey?.add('tls', target.identity ? `mTLS to ${target.label}, which must prove ${target.identity} (checked at each connection's handshake)` : `plaintext to ${target.label} (no proxy there)`);
        req.ctx.dstLabels = entry.dst;
      }
      return req.protocol === 'h2' ? h2().service(req) : http1().service(req);
    };
    this.byKey.set(target.key, entry);
    return entry;
  }

  private track(target: EndpointTarget, socket: Socket, tls: boolean, dst: Readonly<Record<string, string>> | undefined): void {
    this.opts.metrics?.trackConnection(socket, {
      direction: this.direction,
      peer: 'dst',
      tls,
      authority: target.address,
      identity: tls ? target.identity : undefined,
      dst: this.direction === 'outbound' ? dst : undefined,
    });
  }

  private sweep(): void {
    for (const [key, entry] of this.byKey) {
      if (entry.used || entry.http1?.busy || entry.h2?.busy) {
        entry.used = false;
        continue;
      }
      this.byKey.delete(key);
      entry.evicted = true;
      // Stale Endpoint objects still in the WeakMap would revive a closed entry: start afresh.
      this.byEndpoint = new WeakMap();
      closeClients(entry).catch((err: Error) => this.opts.logger.debug({ err, endpoint: entry.target.label }, 'closing idle endpoint failed'));
    }
  }
}

async function closeClients(entry: EndpointClients): Promise<void> {
  await Promise.all([entry.http1?.close(), entry.h2?.close()]);
}
