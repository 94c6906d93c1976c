// The viz, assembled: its certificate, the pod list from the destination, a metrics source (its
// own scrapes, or a Prometheus), and the HTTP API over them. `mesh viz serve` runs this.
import type { Logger } from 'pino';
import type { TlsCredentials } from '../proxy/identity/credentials.ts';
import { CONTROL_PLANE_NAMESPACE, spiffeId } from '../api/spiffe.ts';
import { authzHandler, edgesHandler, healthHandler, podsHandler, prometheusTargetsHandler, routesHandler, statHandler } from './api/handlers.ts';
import { tapHandler, topHandler } from './api/streams.ts';
import { startVizHttp, type Handler, type VizHttpServer } from './api/server.ts';
import { LocalMetrics } from './metrics/local-source.ts';
import { Scraper } from './metrics/scraper.ts';
import type { MetricsSource } from './metrics/source.ts';
import { watchPods, type PodWatch } from './pods/pod-watch.ts';
import { startDashboard, type RunningDashboard } from './dashboard/server.ts';
import { resourcesHandler } from './api/resources.ts';
import { watchResources, type ResourceWatch } from './resources/resource-watch.ts';

export interface VizOptions {
  /** Where the API listens (DESIGN.md: 127.0.0.1:8085). */
  listen: string;
  destinationAddr: string;
  credentials: TlsCredentials;
  trustDomain: string;
  /** Scrape interval (5 s). */
  scrapeIntervalMs: number;
  /** The proxies' admin port (4191) and tap port (4190). */
  adminPort: number;
  tapPort: number;
  /** Read this Prometheus instead of scraping (`--prometheus URL`). */
  prometheus?: MetricsSource;
  /** The dashboard (DESIGN.md: 127.0.0.1:8084), served by this process; absent: no dashboard. */
  dashboard?: { listen: string; ingressUrl?: string };
  logger: Logger;
}

/** What the API handlers read: the shared state of one running viz. */
export interface VizContext {
  options: VizOptions;
  pods: PodWatch;
  /** What the destination holds (Resources.WatchResources), for GET /api/v1/resources. */
  resources: ResourceWatch;
  scraper: Scraper;
  metrics: MetricsSource;
  startedAt: number;
}

export interface RunningViz {
  address: string;
  dashboard?: RunningDashboard;
  context: VizContext;
  close(): Promise<void>;
}

export async function startViz(options: VizOptions): Promise<RunningViz> {
  const { logger } = options;
  const destinationIdentity = spiffeId(options.trustDomain, CONTROL_PLANE_NAMESPACE, 'destination');
  const destination = { addr: options.destinationAddr, credentials: options.credentials, serverIdentity: destinationIdentity, logger };
  const pods = watchPods(destination);
  const resources = watchResources(destination);
  const local = options.prometheus ? undefined : new LocalMetrics(options.scrapeIntervalMs);
  // With a Prometheus, the scraper still asks each proxy's /ready (for MESHED), but not /metrics.
  const scraper = new Scraper(pods, local, { intervalMs: options.scrapeIntervalMs, adminPort: options.adminPort, logger });
  const context: VizContext = { options, pods, resources, scraper, metrics: options.prometheus ?? local!, startedAt: Date.now() };
  const routes: Record<string, Handler> = {
    '/api/v1/health': healthHandler(context),
    '/api/v1/pods': podsHandler(context),
    '/api/v1/stat': statHandler(context),
    '/api/v1/edges': edgesHandler(context),
    '/api/v1/routes': routesHandler(context),
    '/api/v1/authz': authzHandler(context),
    '/api/v1/tap': tapHandler(context),
    '/api/v1/top': topHandler(context),
    '/api/v1/prometheus-targets': prometheusTargetsHandler(context),
    '/api/v1/resources': resourcesHandler(context),
  };
  let http: VizHttpServer;
  try {
    http = await startVizHttp(options.listen, routes, logger);
  } catch (err) {
    pods.close();
    resources.close();
    throw err;
  }
  let dashboard: RunningDashboard | undefined;
  if (options.dashboard) {
    try {
      dashboard = await startDashboard({ ...options.dashboard, api: routes, ctx: context, logger });
    } catch (err) {
      pods.close();
      resources.close();
      await http.close();
      throw err;
    }
  }
  scraper.start();
  // A new pod is scraped at once, not at the next tick: stat shows it as soon as it registers.
  pods.onChange(() => void scraper.tick());
  logger.info({ address: http.address, source: options.prometheus ? 'prometheus' : 'scrape' }, 'viz serving');
  return {
    address: http.address,
    dashboard,
    context,
    close: async () => {
      scraper.stop();
      pods.close();
      resources.close();
      await dashboard?.close();
      await http.close();
    },
  };
}
