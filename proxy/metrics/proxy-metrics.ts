// One proxy's metrics: its own Prometheus registry with Linkerd's golden metrics in it.
//
// Each proxy instance owns a ProxyMetrics (never a module global), so several proxies can run
// in one process, as tests do, without mixing their counts.
import type { Socket } from 'node:net';
import { Counter, Gauge, Registry } from './prom-client-parts.ts';
import type { Layer } from '../http/message.ts';
import type { WeightMove } from '../outbound/logical/backend-split.ts';
import type { EndpointStates } from '../outbound/concrete/balancer.ts';
import { DEFAULT_CONTEXT_LABELS, DST_LABELS, HttpLabeller, REQUEST_LABELS, RESPONSE_LABELS } from './http-labels.ts';
import { registerProcessMetrics } from './process.ts';
import { HttpSeriesTable } from './http-series.ts';
import { createRequestLayer } from './request-layer.ts';
import { ROUTE_LABELS, RouteSeries, type RouteLayers } from './route-series.ts';
import { registerSeriesFamily } from './series-export.ts';
import { TcpMetrics, type ConnectionLabels } from './tcp.ts';

export { LATENCY_BUCKETS_MS } from './latency-histogram.ts';

export interface ProxyMetricsOptions {
  /** Distinct authorities kept as labels before the rest fold into "other". Default 100. */
  maxAuthorities?: number;
  /** Distinct peer identities (client_id / server_id). Default 100. */
  maxIdentities?: number;
  /** Distinct routes. Default 200. */
  maxRoutes?: number;
  /** Keys of `req.ctx.labels` that become labels (see http-labels.ts for the default list). */
  contextLabels?: readonly string[];
  /** Distinct values of dst_namespace, dst_service, dst_deployment (each). Default 100. */
  maxDstWorkloads?: number;
  /** Distinct values of dst_pod. Default 500. */
  maxDstPods?: number;
  /** Export process_resident_memory_bytes and friends. Default true. */
  processMetrics?: boolean;
  /**
   * This proxy's own workload: `namespace`, `deployment`, `pod` on every series it exports (as
   * Linkerd's Prometheus configuration adds them). Constant per proxy, so they are added at
   * scrape time (the registry's default labels) and cost the request path nothing.
   */
  workload?: WorkloadLabels;
  /** The mesh's version, exported as `proxy_build_info{version}` (Linkerd's gauge). */
  version?: string;
}

export interface WorkloadLabels {
  namespace?: string;
  /** The owning Deployment's name; absent for a pod no Deployment owns. */
  deployment?: string;
  pod?: string;
}

export interface RetryLabels {
  direction: 'inbound' | 'outbound';
  authority: string;
  route?: string;
}

export type { ConnectionLabels } from './tcp.ts';

export class ProxyMetrics {
  /** This proxy's registry: other components add their metrics here (identity expiry, ...). */
  readonly registry = new Registry();
  private readonly tcp: TcpMetrics;
  private readonly retries: Counter<string>;
  private readonly failovers: Counter<string>;
  /** The outbound balancers' endpoint states, read at scrape time: one entry per cached backend. */
  private readonly balancers = new Set<{ backend: string; states: () => EndpointStates | undefined }>();
  private readonly layer: Layer;
  private readonly labeller: HttpLabeller;
  private readonly routes: RouteSeries;

  constructor(opts: ProxyMetricsOptions = {}) {
    const registers = [this.registry];
    const workload = Object.entries(opts.workload ?? {}).filter(([, v]) => typeof v === 'string' && v !== '');
    if (workload.length > 0) this.registry.setDefaultLabels(Object.fromEntries(workload));
    const contextLabels = opts.contextLabels ?? DEFAULT_CONTEXT_LABELS;
    const labeller = (this.labeller = new HttpLabeller(contextLabels, {
      authority: opts.maxAuthorities ?? 100,
      identity: opts.maxIdentities ?? 100,
      route: opts.maxRoutes ?? 200,
      contextLabel: 100,
      dstWorkload: opts.maxDstWorkloads ?? 100,
      dstPod: opts.maxDstPods ?? 500,
    }));
    const table = new HttpSeriesTable(labeller);
    registerSeriesFamily(this.registry, {
      prefix: '',
      what: 'HTTP',
      requestLabels: [...REQUEST_LABELS, ...contextLabels, ...DST_LABELS],
      responseLabels: RESPONSE_LABELS,
      all: () => table.all(),
    });
    const routes = (this.routes = new RouteSeries({ authority: labeller.authority, route: labeller.route }));
    registerSeriesFamily(this.registry, {
      prefix: 'route_',
      what: 'Per route, once per request the app sent',
      requestLabels: ROUTE_LABELS,
      responseLabels: RESPONSE_LABELS,
      all: () => routes.effective.values(),
    });
    registerSeriesFamily(this.registry, {
      prefix: 'route_actual_',
      what: 'Per route, every attempt (retries included)',
      requestLabels: ROUTE_LABELS,
      responseLabels: RESPONSE_LABELS,
      all: () => routes.actual.values(),
    });
    this.tcp = new TcpMetrics(this.registry, { authority: labeller.authority, identity: labeller.identity, dst: labeller.dstBounds });
    this.retries = new Counter({
      name: 'retry_total',
      help: 'Requests sent again by a retry layer',
      labelNames: ['direction', 'authority', 'route'],
      registers,
    });
    this.failovers = new Counter({
      name: 'failover_total',
      help: 'Changes of where a traffic-split backend\'s weight goes: to the rule\'s other backends (state="failed_over", it has no ready endpoints), nowhere (state="all_down", no backend of the rule has any: no fail-over, its requests fail), back to itself (state="restored")',
      labelNames: ['authority', 'backend', 'state'],
      registers,
    });
    const balancers = this.balancers;
    new Gauge({
      name: 'outbound_http_balancer_endpoints',
      help: 'Endpoints of each outbound backend\'s balancer: endpoint_state="ready" take requests, "pending" are held back (out after consecutive failures, or connecting)',
      labelNames: ['backend', 'endpoint_state'],
      registers,
      collect() {
        this.reset();
        for (const { backend, states } of balancers) {
          const now = states();
          if (now === undefined) continue; // not a mesh service: no balancer
          // inc, not set: backends past the label cap share "other".
          this.inc({ backend, endpoint_state: 'ready' }, now.ready);
          this.inc({ backend, endpoint_state: 'pending' }, now.pending);
        }
      },
    });
    new Gauge({
      name: 'metrics_label_capped',
      help: '1 when a label reached its distinct-value cap and new values fold into "other"',
      labelNames: ['label'],
      registers,
      collect() {
        for (const bounded of [labeller.authority, labeller.identity, labeller.route, ...labeller.dstBounds]) {
          this.set({ label: bounded.label }, bounded.full ? 1 : 0);
        }
      },
    });
    if (opts.version !== undefined) {
      // Linkerd's proxy_build_info: the viz compares it with the control plane's version.
      new Gauge({ name: 'proxy_build_info', help: 'This proxy\'s build: always 1, the version is in the labels', labelNames: ['version'], registers }).set({ version: opts.version }, 1);
    }
    if (opts.processMetrics ?? true) registerProcessMetrics(this.registry);
    this.layer = createRequestLayer((req) => table.of(req));
  }

  /** The golden-metrics layer for a request stack (cheap: one label set and three updates per request). */
  requestLayer(): Layer {
    return this.layer;
  }

  /**
   * The per-route metrics layers for one route of the logical target `dst` (the authority the
   * app named): `effective` outside the retries, `actual` inside them; a route without retries
   * gets no `actual` layer, its attempts being its requests (route-series.ts).
   */
  routeLayers(dst: string, route: string | undefined, retries: boolean): RouteLayers {
    return this.routes.layers(dst, route, retries);
  }

  /** Counts a connection now and, when it closes, its close and its bytes. */
  trackConnection(socket: Socket, labels: ConnectionLabels): void {
    this.tcp.track(socket, labels);
  }

  retried(labels: RetryLabels): void {
    const out: Record<string, string> = {
      direction: labels.direction,
      authority: this.labeller.authority.value(labels.authority.toLowerCase()),
    };
    if (labels.route) out.route = this.labeller.route.value(labels.route);
    this.retries.inc(out);
  }

  failover(labels: { authority: string; backend: string; state: WeightMove }): void {
    this.failovers.inc({ ...labels, authority: this.labeller.authority.value(labels.authority.toLowerCase()), backend: this.labeller.authority.value(labels.backend.toLowerCase()) });
  }

  /** Exports the balancer of outbound backend `backend` on `outbound_http_balancer_endpoints`; returns its removal. */
  balancerEndpoints(backend: string, states: () => EndpointStates | undefined): () => void {
    const entry = { backend: this.labeller.authority.value(backend.toLowerCase()), states };
    this.balancers.add(entry);
    return () => this.balancers.delete(entry);
  }

  /** The Prometheus text exposition of everything in this proxy's registry. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
