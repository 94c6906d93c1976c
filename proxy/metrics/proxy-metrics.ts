// One proxy's metrics: its own Prometheus registry with Linkerd's golden metrics in it.
//
// Each proxy instance owns a ProxyMetrics (never a module global), so several proxies can run
// in one process, as tests do, without mixing their counts.
import type { Socket } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Layer } from '../http/message.ts';
import { DEFAULT_CONTEXT_LABELS, HttpLabeller, REQUEST_LABELS, RESPONSE_LABELS } from './http-labels.ts';
import { registerLatencyHistogram } from './latency-histogram.ts';
import { registerProcessMetrics } from './process.ts';
import { HttpSeriesTable } from './http-series.ts';
import { createRequestLayer, type HttpInstruments } from './request-layer.ts';
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
  /** Export process_resident_memory_bytes and friends. Default true. */
  processMetrics?: boolean;
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
  private readonly http: HttpInstruments;
  private readonly tcp: TcpMetrics;
  private readonly retries: Counter<string>;
  private readonly layer: Layer;
  private readonly labeller: HttpLabeller;

  constructor(opts: ProxyMetricsOptions = {}) {
    const registers = [this.registry];
    const contextLabels = opts.contextLabels ?? DEFAULT_CONTEXT_LABELS;
    const labeller = (this.labeller = new HttpLabeller(contextLabels, {
      authority: opts.maxAuthorities ?? 100,
      identity: opts.maxIdentities ?? 100,
      route: opts.maxRoutes ?? 200,
      contextLabel: 100,
    }));
    const requestLabels = [...REQUEST_LABELS, ...contextLabels];
    const table = new HttpSeriesTable(labeller);
    new Counter({
      name: 'request_total',
      help: 'HTTP requests',
      labelNames: requestLabels,
      registers,
      collect() {
        this.reset();
        // A label set first seen at response time (a route filled in below) has no requests of its own.
        for (const series of table.all()) if (series.requests > 0) this.inc(series.labels, series.requests);
      },
    });
    new Counter({
      name: 'response_total',
      help: 'HTTP responses, counted when the response stream ends',
      labelNames: [...requestLabels, ...RESPONSE_LABELS],
      registers,
      collect() {
        this.reset();
        for (const series of table.all()) for (const r of series.responses.values()) this.inc(r.labels, r.count);
      },
    });
    registerLatencyHistogram(
      this.registry,
      'response_latency_ms',
      'Time from the request entering the proxy to the response headers, in milliseconds',
      () => table.all(),
    );
    this.http = { table };
    this.tcp = new TcpMetrics(this.registry, { authority: labeller.authority, identity: labeller.identity });
    this.retries = new Counter({
      name: 'retry_total',
      help: 'Requests sent again by a retry layer',
      labelNames: ['direction', 'authority', 'route'],
      registers,
    });
    new Gauge({
      name: 'metrics_label_capped',
      help: '1 when a label reached its distinct-value cap and new values fold into "other"',
      labelNames: ['label'],
      registers,
      collect() {
        for (const bounded of [labeller.authority, labeller.identity]) this.set({ label: bounded.label }, bounded.full ? 1 : 0);
      },
    });
    if (opts.processMetrics ?? true) registerProcessMetrics(this.registry);
    this.layer = createRequestLayer(this.http);
  }

  /** The golden-metrics layer for a request stack (cheap: one label set and three updates per request). */
  requestLayer(): Layer {
    return this.layer;
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

  /** The Prometheus text exposition of everything in this proxy's registry. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
