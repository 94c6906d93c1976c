// Answers the viz's metric questions from its own scrapes (history.ts), the way Prometheus
// would answer the same PromQL: rates per pod over the window, summed into groups.
import { growth, PodHistory } from './history.ts';
import { quantile as bucketQuantile } from '../../api/prom-samples.ts';
import { groupOf, matches, type GroupValue, type Matcher, type MetricsSource } from './source.ts';

export class LocalMetrics implements MetricsSource {
  /** One history per scraped pod, by `namespace/name`. */
  readonly pods = new Map<string, PodHistory>();

  constructor(
    /** How often pods are scraped (the slack a window's start is given). */
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * As Prometheus: a gauge's last value counts for five minutes after its last good scrape; a
   * rate needs its newest scrape inside the window. A scrape or two that failed on a busy
   * machine leaves the numbers as they were, not blank.
   */
  private static readonly LOOKBACK_MS = 5 * 60_000;

  async rate(metric: string, match: Matcher[], by: string[], windowMs: number): Promise<GroupValue[]> {
    const groups = new Map<string, GroupValue>();
    this.eachRate(metric, match, windowMs, (labels, perSecond) => {
      const g = groupOf(labels, by);
      const entry = groups.get(g.key) ?? groups.set(g.key, { labels: g.labels, value: 0 }).get(g.key)!;
      entry.value += perSecond;
    });
    return [...groups.values()];
  }

  async quantile(q: number, histogram: string, match: Matcher[], by: string[], windowMs: number): Promise<GroupValue[]> {
    const groups = new Map<string, { labels: Record<string, string>; buckets: Map<number, number> }>();
    this.eachRate(`${histogram}_bucket`, match, windowMs, (labels, perSecond) => {
      const g = groupOf(labels, by);
      const entry = groups.get(g.key) ?? groups.set(g.key, { labels: g.labels, buckets: new Map() }).get(g.key)!;
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      entry.buckets.set(le, (entry.buckets.get(le) ?? 0) + perSecond);
    });
    const out: GroupValue[] = [];
    for (const g of groups.values()) {
      const value = bucketQuantile(q, g.buckets);
      if (value !== undefined) out.push({ labels: g.labels, value });
    }
    return out;
  }

  async latest(metric: string, match: Matcher[], by: string[]): Promise<GroupValue[]> {
    const groups = new Map<string, GroupValue>();
    for (const pod of this.pods.values()) {
      const newest = pod.newest();
      if (!newest || this.now() - newest.atMs > LocalMetrics.LOOKBACK_MS) continue;
      for (const s of pod.series.values()) {
        if (s.name !== metric || !matches(s.labels, match)) continue;
        const v = s.values[newest.slot]!;
        if (Number.isNaN(v)) continue;
        const g = groupOf(s.labels, by);
        const entry = groups.get(g.key) ?? groups.set(g.key, { labels: g.labels, value: 0 }).get(g.key)!;
        entry.value += v;
      }
    }
    return [...groups.values()];
  }

  /** Calls `each` with every matching series' per-second growth over the window. */
  private eachRate(metric: string, match: Matcher[], windowMs: number, each: (labels: Record<string, string>, perSecond: number) => void): void {
    const now = this.now();
    for (const pod of this.pods.values()) {
      const end = pod.newest();
      if (!end || now - end.atMs > windowMs) continue;
      // Half an interval of slack: scrapes drift, and a 10 s window should still span two of 5 s.
      const start = pod.startOf(end.atMs - windowMs - this.intervalMs / 2);
      if (!start) continue; // one scrape is no rate
      const seconds = (end.atMs - start.atMs) / 1000;
      for (const s of pod.series.values()) {
        if (s.name !== metric || !matches(s.labels, match)) continue;
        each(s.labels, growth(s, start.slot, end.slot) / seconds);
      }
    }
  }
}
