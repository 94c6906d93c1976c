// One sidecar proxy: outbound (4140), inbound (4143), admin (4191) and tap (4190) listeners on the pod
// address, the stacks behind them, and the lifecycle (start, drain, stop). Everything a proxy
// owns hangs off this object, so several proxies can run in one process.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { joinHostPort } from '../api/host-port.ts';
import { meshVersion } from '../api/locate.ts';
import { AdminServer } from './admin/server.ts';
import type { ProxyConfig } from './config.ts';
import { destinationFromConfig, identityFromConfig } from './control-plane.ts';
import type { Resolver } from './discovery/resolver.ts';
import type { Layer } from './http/message.ts';
import type { TlsCredentials } from './identity/credentials.ts';
import { InboundPolicySource } from './inbound/policy-source.ts';
import { buildInboundStack } from './inbound/stack.ts';
import { InboundListener } from './server/inbound-listener.ts';
import { createLogger } from '../api/log.ts';
import { ProxyMetrics } from './metrics/index.ts';
import { EndpointConnector } from './outbound/endpoint/connector.ts';
import { IdleGc } from './idle-gc.ts';
import { buildOutboundStack, type OutboundStack } from './outbound/stack.ts';
import { OutboundListener } from './server/outbound-listener.ts';
import { Drain } from './server/drain.ts';
import { RequestIds } from './server/request-context.ts';
import type { SelfFacts } from './tap/events.ts';
import { DEFAULT_TAP_LIMITS, TapHub, type TapLimits } from './tap/hub.ts';
import { tapLayer } from './tap/layer.ts';
import { TapServer } from './tap/server.ts';

export interface ProxyDeps {
  /**
   * Where outbound sends and what inbound allows; default: a DestinationClient when
   * config.destinationAddr is set, else a DevResolver over the YAML at config.endpointsFile.
   */
  resolver?: Resolver;
  /**
   * This proxy's mTLS identity; default: an IdentityClient when config.identityAddr is set, else
   * none and the proxy runs in cleartext (development).
   */
  credentials?: TlsCredentials;
  logger?: Logger;
  metrics?: ProxyMetrics;
  /** Replaces the inbound policy layer built from the resolver's inbound policy (layer tests). */
  authorize?: Layer;
  /** Bounds of the tap server (tests lower them). */
  tapLimits?: TapLimits;
  /** Called once shutdown has finished (the CLI exits here). */
  onStopped?: () => void;
}

export interface ProxyAddresses {
  outbound: AddressInfo;
  /** Transparent mode: the outbound port on [::1] (or [::], beside 0.0.0.0) too, where ip6tables REDIRECT delivers (unset: no IPv6 here). */
  outboundIpv6?: AddressInfo;
  inbound: AddressInfo;
  /** The inbound port on the pod's other addresses (`--pod-ips`: a dual-stack pod's second family). */
  inboundOtherIps: AddressInfo[];
  admin: AddressInfo;
  /** Bound once the proxy holds a certificate (no identity: no tap server). */
  tap?: { address: string; port: number };
}

export class Proxy {
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  /** Each side drains on its own: the outbound side outlives the inbound one at shutdown (stop()). */
  private readonly drains = { inbound: new Drain(), outbound: new Drain() };
  /** Requests begun so far on both sides (the idle GC, and bin/optimize-when-busy.js through `mesh:proxy-started`). */
  get requestsStarted(): number {
    return this.drains.inbound.requestsStarted + this.drains.outbound.requestsStarted;
  }
  private readonly ids = new RequestIds();
  /** A full GC when the proxy turns quiet with a grown heap (started once listening, stopped at shutdown). */
  private readonly idleGc: IdleGc;
  private readonly outboundClients: EndpointConnector;
  private readonly appClients: EndpointConnector;
  private readonly admin: AdminServer;
  /** The listening servers by name ('outbound', 'inbound'): stop() closes the inbound one first. */
  private readonly listeners = new Map<string, Server>();
  /** The taps open on this proxy; the stacks' tap layers read it on every request. */
  readonly taps: TapHub;
  private tapServer: TapServer | undefined;
  /** The proxy's identity: handed in, or the IdentityClient this proxy made (and closes). */
  readonly credentials: TlsCredentials | undefined;
  private readonly ownsCredentials: boolean;
  private resolver: Resolver | undefined;
  private policy: InboundPolicySource | undefined;
  private outboundStack: OutboundStack | undefined;
  private addresses: ProxyAddresses | undefined;
  private stopping: Promise<void> | undefined;
  /** The ports of this proxy's listeners, filled in as they bind: the inbound side never forwards to them. */
  private readonly ownPorts = new Set<number>();

  constructor(
    readonly config: ProxyConfig,
    private readonly deps: ProxyDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger('proxy', { fields: { pod: config.podIp } });
    // Every series carries this pod's namespace, deployment and pod (constant per proxy: added at
    // scrape time), and the build's version is exported for the viz to compare.
    this.metrics =
      deps.metrics ??
      new ProxyMetrics({
        workload: { namespace: config.podNamespace, deployment: config.podDeployment, pod: config.podName },
        version: meshVersion(),
      });
    // Started now, not at start(): the key pair and the first Certify call overlap the binding.
    this.credentials = deps.credentials ?? identityFromConfig(config, this.metrics.registry, this.logger);
    this.ownsCredentials = deps.credentials === undefined && this.credentials !== undefined;
    this.outboundClients = new EndpointConnector({
      credentials: this.credentials,
      metrics: this.metrics,
      logger: this.logger,
      direction: 'outbound',
      podIp: config.podIp,
      http1Connections: config.http1PoolSize,
    });
    this.taps = new TapHub(deps.tapLimits ?? DEFAULT_TAP_LIMITS);
    this.appClients = new EndpointConnector({ metrics: this.metrics, logger: this.logger, direction: 'inbound', http1Connections: config.http1PoolSize });
    this.idleGc = new IdleGc({
      intervalMs: config.idleGcIntervalMs,
      requestsStarted: () => this.requestsStarted,
      logger: this.logger,
    });
    this.admin = new AdminServer({
      host: config.podIp,
      port: config.adminPort,
      metrics: this.metrics,
      isReady: () => this.readiness(),
      credentials: this.credentials,
      onShutdown: () => void this.shutdown('POST /shutdown'),
      logger: this.logger.child({ listener: 'admin' }),
    });
  }

  /** Bind all three listeners; resolves with their addresses (ports may have been 0). */
  async start(): Promise<ProxyAddresses> {
    const { config, logger } = this;
    // Bind first: the destination learns this proxy's inbound port from its registration, and
    // with port 0 (tests) that is known only once bound. Until the stacks exist, nothing is accepted.
    const accept: { outbound?: (s: Socket) => void; inbound?: (s: Socket) => void } = {};
    let outboundAt: AddressInfo, inboundAt: AddressInfo;
    let outboundV6At: AddressInfo | undefined;
    const inboundOtherIps: AddressInfo[] = [];
    try {
      const acceptOutbound = (socket: Socket) => (accept.outbound ? accept.outbound(socket) : socket.destroy());
      outboundAt = await this.listen(config.outboundIp ?? config.podIp, config.outboundPort, 'outbound', acceptOutbound);
      // ip6tables' REDIRECT (`mesh proxy-init --ipv6`) delivers the app's IPv6 connections to [::1]:
      // beside 127.0.0.1 the proxy takes [::1]; beside 0.0.0.0 (every IPv4 address), [::] (every
      // IPv6 one, [::1] among them), IPv6 only, so IPv4 callers stay on the IPv4 listener.
      if (config.transparent) outboundV6At = await this.listenIpv6Outbound(config.outboundIp === '0.0.0.0' ? '::' : '::1', outboundAt.port, acceptOutbound);
      const acceptInbound = (socket: Socket) => (accept.inbound ? accept.inbound(socket) : socket.destroy());
      inboundAt = await this.listen(config.podIp, config.inboundPort, 'inbound', acceptInbound);
      // A dual-stack pod's other address: a REDIRECT in PREROUTING delivers a caller to the pod's
      // address of the caller's family, which for one of the two is not the pod IP. One listener per
      // address rather than one on [::], so an IPv4 caller stays an IPv4 socket, whose original
      // destination reads as such.
      for (const ip of new Set(config.podIps ?? [])) {
        if (ip !== config.podIp) inboundOtherIps.push(await this.listen(ip, inboundAt.port, `inbound ${ip}`, acceptInbound));
      }
      this.resolver = this.deps.resolver ?? destinationFromConfig(config, this.credentials, inboundAt.port, logger) ?? (await this.devResolver());
    } catch (err) {
      for (const server of this.listeners.values()) server.close();
      throw err;
    }
    const outboundLog = logger.child({ listener: 'outbound' });
    const inboundLog = logger.child({ listener: 'inbound' });
    const common = { ids: this.ids, metrics: this.metrics, config };
    const self = this.selfFacts();
    const selfAddresses = new Set([joinHostPort(outboundAt.address, outboundAt.port), joinHostPort(inboundAt.address, inboundAt.port)]);
    for (const also of [outboundV6At, ...inboundOtherIps]) if (also) selfAddresses.add(joinHostPort(also.address, also.port));
    this.outboundStack = buildOutboundStack({
      resolver: this.resolver,
      endpoints: this.outboundClients,
      metrics: this.metrics,
      logger: outboundLog,
      discoveryTimeoutMs: config.discoveryTimeoutMs,
      maxTargets: config.maxTargets,
      selfAddresses,
      ingress: config.ingress,
      ingressDefaultDst: config.ingressDefaultDst,
      tap: tapLayer({ hub: this.taps, direction: 'outbound', self }),
      skipPorts: config.skipOutboundPorts,
    });
    const outbound = new OutboundListener({ ...common, drain: this.drains.outbound, logger: outboundLog, stack: this.outboundStack });
    // Every inbound request and opaque connection is checked against its port's live policy.
    this.policy = new InboundPolicySource(this.resolver, { clusterNetworks: config.clusterNetworks });
    // Watch the app's declared ports now, so their policy is known before the first caller.
    for (const port of new Set([...config.podPorts.map((p) => p.port), ...(config.defaultAppPort ? [config.defaultAppPort] : [])])) this.policy.policyFor(port);
    const inbound = new InboundListener({
      ...common,
      drain: this.drains.inbound,
      logger: inboundLog,
      credentials: this.credentials,
      stack: buildInboundStack({
        podIp: config.podIp,
        defaultAppPort: config.defaultAppPort,
        app: this.appClients,
        metrics: this.metrics,
        logger: inboundLog,
        policy: this.policy,
        policyTimeoutMs: config.discoveryTimeoutMs,
        authorize: this.deps.authorize,
        proxyPorts: this.ownPorts,
        tap: tapLayer({ hub: this.taps, direction: 'inbound', self }),
      }),
    });
    accept.outbound = (socket) => outbound.accept(socket);
    accept.inbound = (socket) => inbound.accept(socket);
    const admin = await this.admin.listen();
    for (const bound of [outboundAt, inboundAt, admin]) if (bound.address === config.podIp) this.ownPorts.add(bound.port);
    this.addresses = { outbound: outboundAt, ...(outboundV6At ? { outboundIpv6: outboundV6At } : {}), inbound: inboundAt, inboundOtherIps, admin };
    await this.startTap();
    this.idleGc.start();
    logger.info(
      {
        ...this.addresses,
        tls: this.credentials !== undefined,
        identity: this.credentials?.identity,
        discovery: config.destinationAddr && !this.deps.resolver ? `destination ${config.destinationAddr}` : this.deps.resolver ? 'given' : `resources ${config.endpointsFile}`,
        ingress: config.ingress,
      },
      'proxy listening',
    );
    return this.addresses;
  }

  get address(): ProxyAddresses {
    if (!this.addresses) throw new Error('proxy not started');
    return this.addresses;
  }

  /**
   * Graceful stop: leave the endpoints, give callers `deregisterDelayMs` to hear of it, drain the
   * inbound side, then the outbound one (up to shutdownGraceMs), close what is left. Safe to
   * call more than once (SIGTERM and POST /shutdown may both arrive).
   */
  shutdown(reason = 'shutdown'): Promise<void> {
    this.stopping ??= this.stop(reason);
    return this.stopping;
  }

  private async stop(reason: string): Promise<void> {
    const { logger, drains } = this;
    this.idleGc.stop();
    const inFlight = drains.inbound.requestsInFlight + drains.outbound.requestsInFlight;
    logger.info({ reason, inFlight, connections: drains.inbound.openConnections + drains.outbound.openConnections }, `proxy draining (${reason})`);
    // Leave the endpoints first and keep listening a moment: the destination tells callers, and
    // requests they send meanwhile are still served. Closing first would refuse those requests.
    if (this.resolver?.deregister && this.config.podName) {
      this.resolver.deregister();
      await new Promise((r) => setTimeout(r, this.config.deregisterDelayMs));
    }
    const deadline = Date.now() + this.config.shutdownGraceMs;
    // The inbound side first: stop accepting callers' connections, let their requests finish
    // (HTTP/1 answers with `connection: close`, HTTP/2 sessions get GOAWAY). The outbound side
    // stays open meanwhile, for the app: finishing those requests may take calls of its own (an
    // order in flight still charges its payment), on a new connection to this port if need be.
    for (const [name, server] of this.listeners) if (name.startsWith('inbound')) server.close();
    const inbound = await drains.inbound.drain(this.config.shutdownGraceMs);
    // Then the outbound side, within what is left of the grace period.
    for (const server of this.listeners.values()) server.close();
    const outbound = await drains.outbound.drain(Math.max(0, deadline - Date.now()));
    // Cells keep their last values, so in-flight requests are unaffected.
    if (!this.deps.resolver) this.resolver?.close();
    const unfinished = inbound.unfinished + outbound.unfinished;
    if (unfinished > 0) logger.warn({ unfinished }, `shutdown grace of ${this.config.shutdownGraceMs} ms ended with ${unfinished} requests unfinished`);
    drains.inbound.destroyAll();
    drains.outbound.destroyAll();
    await Promise.allSettled([this.tapServer?.close(), this.admin.close(), this.outboundClients.close(), this.appClients.close()]);
    this.outboundStack?.close();
    this.policy?.close();
    if (this.ownsCredentials) (this.credentials as { close?: () => void }).close?.();
    logger.info({ reason }, 'proxy stopped');
    this.deps.onStopped?.();
  }

  /**
   * The tap server needs the proxy's certificate. Held already (tests, a quick CA): bound before
   * start() resolves. Else bound in the background once the first certificate arrives.
   */
  private async startTap(): Promise<void> {
    const { credentials, config, logger } = this;
    if (!credentials) {
      logger.info('no identity, so no tap server: tap is served over mTLS to the viz\'s identity only');
      return;
    }
    const server = (this.tapServer = new TapServer({ hub: this.taps, credentials, host: config.podIp, port: config.tapPort, logger: logger.child({ listener: 'tap' }) }));
    const bind = server.listen().then(
      (port) => {
        if (this.stopping) return;
        this.ownPorts.add(port);
        if (this.addresses) this.addresses.tap = { address: config.podIp, port };
        logger.info({ tap: { address: config.podIp, port } }, 'tap listening');
      },
      (err: Error) => logger.error({ err }, `${err.message}; the proxy runs without tap`),
    );
    if (credentials.isReady()) await bind;
  }

  /** What tap events say about this proxy's own pod. */
  private selfFacts(): SelfFacts {
    const { config } = this;
    return {
      podIp: config.podIp,
      identity: this.credentials?.identity,
      pod: config.podName,
      namespace: config.podNamespace,
      // A Deployment's pods are named `<deployment>-<ordinal>` here (`<deployment>-<hash>-<id>` in Kubernetes).
      deployment: config.podName?.replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$|-\d+$/, ''),
    };
  }

  private readiness(): true | string {
    if (this.stopping) return 'shutting down';
    if (!this.addresses) return 'listeners not bound yet';
    if (this.credentials && !this.credentials.isReady()) {
      return this.config.identityAddr && this.ownsCredentials
        ? `no certificate yet from the identity CA at ${this.config.identityAddr} (retrying with backoff; see the log for why)`
        : 'no certificate issued yet';
    }
    return true;
  }

  /** Development mode. Imported only here: it brings the destination's store and a YAML parser,
   *  which a proxy fed by the destination service never needs (bench/NOTES.md: ~2 MB idle). */
  private async devResolver(): Promise<Resolver> {
    const c = this.config;
    if (!c.endpointsFile) {
      throw new Error('no resolver: set --destination-addr / MESH_DESTINATION_ADDR (the destination service) or --endpoints-file (Kubernetes YAML, development mode)');
    }
    const { DevResolver } = await import('./discovery/dev-resolver.ts');
    return new DevResolver(c.endpointsFile, {
      podIp: c.podIp,
      namespace: c.podNamespace,
      podName: c.podName,
      trustDomain: c.trustDomain,
      defaultPolicy: c.inboundDefaultPolicy,
      clusterNetworks: c.clusterNetworks,
      logger: this.logger.child({ component: 'dev-resolver' }),
    });
  }

  /**
   * The outbound port on `host` (`::1` or `::`) as well, for connections an ip6tables REDIRECT sends
   * to [::1]. A pod without IPv6 has no ::1 (and a test's free IPv4 port may be taken on IPv6): then
   * nothing can arrive that way, which is said once, and the proxy runs on.
   */
  private async listenIpv6Outbound(host: '::1' | '::', port: number, accept: (socket: Socket) => void): Promise<AddressInfo | undefined> {
    try {
      // IPv6 only: a `::` socket would take IPv4 too (dual-stack), where the 0.0.0.0 listener already is.
      return await this.listen(host, port, 'outbound-ipv6', accept, { ipv6Only: true });
    } catch (err) {
      this.listeners.delete('outbound-ipv6');
      this.logger.info({ err: (err as Error).message }, `no outbound listener on [${host}]:${port}: IPv6 connections redirected by ip6tables (mesh proxy-init --ipv6) cannot reach this proxy (${(err as Error).message})`);
      return undefined;
    }
  }

  private listen(host: string, port: number, name: string, accept: (socket: Socket) => void, o: { ipv6Only?: boolean } = {}): Promise<AddressInfo> {
    const server = createServer({ noDelay: true }, accept);
    this.listeners.set(name, server);
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(Object.assign(new Error(`${name}: cannot listen on ${joinHostPort(host, port)}: ${err.code ?? err.message}`), { code: err.code })),
      );
      server.listen({ host, port, backlog: 1024, ipv6Only: o.ipv6Only ?? false }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.logger.error({ err, listener: name }, `${name} listener error`));
        resolve(server.address() as AddressInfo);
      });
    });
  }
}
