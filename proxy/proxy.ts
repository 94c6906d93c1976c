// One sidecar proxy: outbound (4140), inbound (4143) and admin (4191) listeners on the pod
// address, the stacks behind them, and the lifecycle (start, drain, stop). Everything a proxy
// owns hangs off this object, so several proxies can run in one process.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { AdminServer } from './admin/server.ts';
import type { ProxyConfig } from './config.ts';
import { StaticResolver } from './discovery/static-resolver.ts';
import type { Resolver } from './discovery/types.ts';
import type { Layer } from './http/message.ts';
import type { TlsCredentials } from './identity/credentials.ts';
import { buildInboundStack, hostPort } from './inbound/stack.ts';
import { InboundListener } from './server/inbound-listener.ts';
import { createLogger } from './log.ts';
import { ProxyMetrics } from './metrics/index.ts';
import { EndpointConnector } from './outbound/endpoint/connector.ts';
import { buildOutboundStack } from './outbound/stack.ts';
import { OutboundListener } from './server/outbound-listener.ts';
import { Drain } from './server/drain.ts';
import { RequestIds } from './server/request-context.ts';

export interface ProxyDeps {
  /** Where outbound sends; default: a StaticResolver over config.endpointsFile. */
  resolver?: Resolver;
  /** This proxy's mTLS identity; without it, the proxy runs in cleartext (development). */
  credentials?: TlsCredentials;
  logger?: Logger;
  metrics?: ProxyMetrics;
  /** Inbound policy layer (proxy/inbound/authorize.ts). */
  authorize?: Layer;
  /** Called once shutdown has finished (the CLI exits here). */
  onStopped?: () => void;
}

export interface ProxyAddresses {
  outbound: AddressInfo;
  inbound: AddressInfo;
  admin: AddressInfo;
}

export class Proxy {
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  private readonly drain = new Drain();
  private readonly ids = new RequestIds();
  private readonly outboundClients: EndpointConnector;
  private readonly appClients: EndpointConnector;
  private readonly admin: AdminServer;
  private readonly listeners: Server[] = [];
  private resolver: Resolver | undefined;
  private addresses: ProxyAddresses | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: ProxyConfig,
    private readonly deps: ProxyDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger('proxy', { fields: { pod: config.podIp } });
    this.metrics = deps.metrics ?? new ProxyMetrics();
    this.outboundClients = new EndpointConnector({
      credentials: deps.credentials,
      metrics: this.metrics,
      logger: this.logger,
      direction: 'outbound',
      http1Connections: config.http1PoolSize,
    });
    this.appClients = new EndpointConnector({ metrics: this.metrics, logger: this.logger, direction: 'inbound', http1Connections: config.http1PoolSize });
    this.admin = new AdminServer({
      host: config.podIp,
      port: config.adminPort,
      metrics: this.metrics,
      isReady: () => this.readiness(),
      onShutdown: () => void this.shutdown('POST /shutdown'),
      logger: this.logger.child({ listener: 'admin' }),
    });
  }

  /** Bind all three listeners; resolves with their addresses (ports may have been 0). */
  async start(): Promise<ProxyAddresses> {
    const { config, logger } = this;
    this.resolver = this.deps.resolver ?? this.staticResolver();
    const outboundLog = logger.child({ listener: 'outbound' });
    const inboundLog = logger.child({ listener: 'inbound' });
    const common = { ids: this.ids, drain: this.drain, metrics: this.metrics, config };

    // Filled once the ports are bound (they may be 0 until then).
    const self = new Set<string>();
    const outbound = new OutboundListener({
      ...common,
      logger: outboundLog,
      stack: buildOutboundStack({
        resolver: this.resolver,
        endpoints: this.outboundClients,
        metrics: this.metrics,
        logger: outboundLog,
        discoveryTimeoutMs: config.discoveryTimeoutMs,
        maxTargets: config.maxTargets,
        selfAddresses: self,
      }),
    });
    const inbound = new InboundListener({
      ...common,
      logger: inboundLog,
      credentials: this.deps.credentials,
      stack: buildInboundStack({
        podIp: config.podIp,
        defaultAppPort: config.defaultAppPort,
        app: this.appClients,
        metrics: this.metrics,
        logger: inboundLog,
        authorize: this.deps.authorize,
      }),
    });
    let outboundAt: AddressInfo, inboundAt: AddressInfo;
    try {
      outboundAt = await this.listen(config.outboundPort, 'outbound', (socket) => outbound.accept(socket));
      inboundAt = await this.listen(config.inboundPort, 'inbound', (socket) => inbound.accept(socket));
    } catch (err) {
      for (const server of this.listeners) server.close();
      throw err;
    }
    for (const a of [outboundAt, inboundAt]) self.add(hostPort(a.address, a.port));
    const admin = await this.admin.listen();
    this.addresses = { outbound: outboundAt, inbound: inboundAt, admin };
    logger.info({ ...this.addresses, tls: this.deps.credentials !== undefined }, 'proxy listening');
    return this.addresses;
  }

  get address(): ProxyAddresses {
    if (!this.addresses) throw new Error('proxy not started');
    return this.addresses;
  }

  /**
   * Graceful stop: stop accepting, let in-flight requests finish (up to shutdownGraceMs), close
   * what is left. Safe to call more than once (SIGTERM and POST /shutdown may both arrive).
   */
  shutdown(reason = 'shutdown'): Promise<void> {
    this.stopping ??= this.stop(reason);
    return this.stopping;
  }

  private async stop(reason: string): Promise<void> {
    const { logger } = this;
    logger.info({ reason, inFlight: this.drain.requestsInFlight, connections: this.drain.openConnections }, `proxy draining (${reason})`);
    for (const server of this.listeners) server.close();
    const { unfinished } = await this.drain.drain(this.config.shutdownGraceMs);
    if (unfinished > 0) logger.warn({ unfinished }, `shutdown grace of ${this.config.shutdownGraceMs} ms ended with ${unfinished} requests unfinished`);
    this.drain.destroyAll();
    await Promise.allSettled([this.admin.close(), this.outboundClients.close(), this.appClients.close()]);
    if (!this.deps.resolver) this.resolver?.close();
    logger.info({ reason }, 'proxy stopped');
    this.deps.onStopped?.();
  }

  private readiness(): true | string {
    if (this.stopping) return 'shutting down';
    if (!this.addresses) return 'listeners not bound yet';
    if (this.deps.credentials && !this.deps.credentials.isReady()) return 'no certificate issued yet';
    return true;
  }

  private staticResolver(): Resolver {
    if (!this.config.endpointsFile) {
      throw new Error('no resolver: set --endpoints-file (static development mode) or run with the destination service');
    }
    return new StaticResolver(this.config.endpointsFile, { logger: this.logger.child({ component: 'static-resolver' }) });
  }

  private listen(port: number, name: string, accept: (socket: Socket) => void): Promise<AddressInfo> {
    const server = createServer({ noDelay: true }, accept);
    this.listeners.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(Object.assign(new Error(`${name}: cannot listen on ${this.config.podIp}:${port}: ${err.code ?? err.message}`), { code: err.code })),
      );
      server.listen({ host: this.config.podIp, port, backlog: 1024 }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.logger.error({ err, listener: name }, `${name} listener error`));
        resolve(server.address() as AddressInfo);
      });
    });
  }
}
