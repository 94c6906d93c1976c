// response_latency_ms kept per request series as plain bucket counts, exposed in Prometheus'
// histogram format at scrape time.
//
// Why not prom-client's Histogram: `observe(labels, ms)` hashes the label object on every call
// (~0.8 us per request, and its `labels()` children hash again); here the request layer already
// holds its series, so an observation is a bucket search and three additions.
import type { Registry } from 'prom-client';
import type { LabelSet } from './http-labels.ts';

/** Linkerd's response_latency_ms buckets, in milliseconds. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000,
  40000, 50000,
];

/** One series' observations: a count per bucket (not cumulative; the last one is +Inf), sum and count. */
export class LatencyCounts {
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  sum = 0;
  count = 0;

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
    this.buckets[i]!++;
    this.sum += ms;
    this.count++;
  }
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** Registers `name` in `registry`, reading every series' counts from `all()` at each scrape. */
export function registerLatencyHistogram(
  registry: Registry,
  name: string,
  help: string,
  all: () => Iterable<{ labels: LabelSet; latency: LatencyCounts }>,
): void {
  const get = async () => {
    const values: Sample[] = [];
    for (const { labels, latency } of all()) {
      if (latency.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
        cumulative += latency.buckets[i]!;
        values.push({ labels: { ...labels, le: LATENCY_BUCKETS_MS[i]! }, value: cumulative, metricName: `${name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: latency.count, metricName: `${name}_bucket` });
      values.push({ labels, value: latency.sum, metricName: `${name}_sum` });
      values.push({ labels, value: latency.count, metricName: `${name}_count` });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  // The shape prom-client's Registry reads from a metric: a name, get(), reset().
  const metric = { name, help, type: 'histogram', aggregator: 'sum', get, reset: () => {} };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
