// Hands a family of request series (request_total, response_total, response_latency_ms under a
// name prefix) to a prom-client registry, read from plain counters at scrape time.
import { Counter, type Registry } from './prom-client-parts.ts';
import type { RequestSeries } from './http-series.ts';
import { registerLatencyHistogram } from './latency-histogram.ts';

export interface SeriesFamily {
  /** `''` for the golden metrics, `route_` and `route_actual_` for the route ones (Linkerd's names). */
  prefix: string;
  /** What the family counts, for the help texts. */
  what: string;
  requestLabels: readonly string[];
  responseLabels: readonly string[];
  all: () => Iterable<RequestSeries>;
}

export function registerSeriesFamily(registry: Registry, f: SeriesFamily): void {
  const registers = [registry];
  const all = f.all;
  new Counter({
    name: `${f.prefix}request_total`,
    help: `${f.what}: requests, counted when the response headers come back or the proxy fails the request`,
    labelNames: [...f.requestLabels],
    registers,
    collect() {
      this.reset();
      for (const series of all()) if (series.requests > 0) this.inc(series.labels, series.requests);
    },
  });
  new Counter({
    name: `${f.prefix}response_total`,
    help: `${f.what}: responses, counted when the response stream ends`,
    labelNames: [...f.requestLabels, ...f.responseLabels],
    registers,
    collect() {
      this.reset();
      for (const series of all()) for (const r of series.responses.values()) this.inc(r.labels, r.count);
    },
  });
  registerLatencyHistogram(
    registry,
    `${f.prefix}response_latency_ms`,
    `${f.what}: time from the request entering the layer to the response headers, in milliseconds`,
    all,
  );
}
