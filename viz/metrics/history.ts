// One pod's scrapes over the last ten minutes, kept as columns: one timestamp ring per pod and
// one ring of values per series, so a window's growth is two array reads per series.
import type { Sample } from '../../api/prom-text.ts';

/** The series the viz reads; everything else a proxy exports is dropped at the door. */
export const KEPT_METRICS = new Set([
  'request_total', 'response_total', 'response_latency_ms_bucket',
  'route_request_total', 'route_response_total', 'route_response_latency_ms_bucket',
  'route_actual_request_total', 'route_actual_response_total',
  'tcp_open_connections', 'tcp_open_total', 'tcp_read_bytes_total', 'tcp_write_bytes_total',
  'retry_total', 'proxy_build_info',
  'inbound_http_authz_allow_total', 'inbound_http_authz_deny_total',
]);

export interface HistorySeries {
  name: string;
  labels: Record<string, string>;
  /** Value at each slot of the ring; NaN where the series did not exist yet. */
  values: Float64Array;
}

export class PodHistory {
  private readonly times: Float64Array;
  /** Slots written so far (capped at capacity) and the slot the next scrape goes to. */
  private filled = 0;
  private next = 0;
  readonly series = new Map<string, HistorySeries>();

  constructor(
    /** `namespace`, `pod`, `deployment`: added to every series that lacks them, as Prometheus adds target labels. */
    readonly targetLabels: Record<string, string>,
    readonly capacity: number,
  ) {
    this.times = new Float64Array(capacity);
  }

  add(atMs: number, samples: Sample[]): void {
    const slot = this.next;
    this.times[slot] = atMs;
    this.next = (slot + 1) % this.capacity;
    this.filled = Math.min(this.filled + 1, this.capacity);
    for (const s of this.series.values()) s.values[slot] = NaN; // gone from this scrape: no value
    for (const sample of samples) {
      if (!KEPT_METRICS.has(sample.name)) continue;
      const labels = { ...this.targetLabels, ...sample.labels };
      const key = `${sample.name}${JSON.stringify(labels)}`;
      let series = this.series.get(key);
      if (!series) {
        series = { name: sample.name, labels, values: new Float64Array(this.capacity).fill(NaN) };
        this.series.set(key, series);
      }
      series.values[slot] = sample.value;
    }
    // Once per lap of the ring: series absent from every slot are dropped (gone ten minutes ago).
    if (this.filled === this.capacity && this.next === 0) {
      for (const [key, s] of this.series) if (s.values.every(Number.isNaN)) this.series.delete(key);
    }
  }

  /** The newest slot, or undefined before the first scrape. */
  newest(): { slot: number; atMs: number } | undefined {
    if (this.filled === 0) return undefined;
    const slot = (this.next - 1 + this.capacity) % this.capacity;
    return { slot, atMs: this.times[slot]! };
  }

  /** The oldest slot no older than `sinceMs` (the start of a window), other than the newest. */
  startOf(sinceMs: number): { slot: number; atMs: number } | undefined {
    const newest = this.newest();
    if (!newest) return undefined;
    for (let i = this.filled - 1; i >= 1; i--) {
      const slot = (newest.slot - i + this.capacity) % this.capacity;
      if (this.times[slot]! >= sinceMs) return { slot, atMs: this.times[slot]! };
    }
    return undefined;
  }
}

/**
 * How much a counter grew between two slots, as Prometheus' increase() without extrapolation:
 * a series born inside the window grew from zero; a drop means the proxy restarted, and its
 * new value is all growth since.
 */
export function growth(series: HistorySeries, from: number, to: number): number {
  const end = series.values[to]!;
  if (Number.isNaN(end)) return 0;
  const start = series.values[from]!;
  if (Number.isNaN(start)) return end;
  return end >= start ? end - start : end;
}
