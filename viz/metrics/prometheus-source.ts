// Answers the viz's metric questions from a real Prometheus over its HTTP API, with the PromQL
// Linkerd's viz sends: sum by (...) of rate(...[window]), and histogram_quantile over buckets.
import { VizError } from '../errors.ts';
import type { GroupValue, Matcher, MetricsSource } from './source.ts';

/** `{a="x",b!="y"}`, values escaped as PromQL string literals. */
export function selector(match: Matcher[]): string {
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const regex = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return `{${match.map((m) => (m.op === 'in' ? `${m.label}=~"${escape(m.values.map(regex).join('|'))}"` : `${m.label}${m.op}"${escape(m.value)}"`)).join(',')}}`;
}

const seconds = (windowMs: number) => `${Math.round(windowMs / 1000)}s`;

export function rateQuery(metric: string, match: Matcher[], by: string[], windowMs: number): string {
  return `sum by (${by.join(', ')}) (rate(${metric}${selector(match)}[${seconds(windowMs)}]))`;
}

export function quantileQuery(q: number, histogram: string, match: Matcher[], by: string[], windowMs: number): string {
  return `histogram_quantile(${q}, sum by (le, ${by.join(', ')}) (rate(${histogram}_bucket${selector(match)}[${seconds(windowMs)}])))`;
}

export function latestQuery(metric: string, match: Matcher[], by: string[]): string {
  return `sum by (${by.join(', ')}) (${metric}${selector(match)})`;
}

interface PromAnswer {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

export class PrometheusMetrics implements MetricsSource {
  constructor(readonly url: URL) {}

  rate(metric: string, match: Matcher[], by: string[], windowMs: number): Promise<GroupValue[]> {
    return this.query(rateQuery(metric, match, by, windowMs), by);
  }

  quantile(q: number, histogram: string, match: Matcher[], by: string[], windowMs: number): Promise<GroupValue[]> {
    return this.query(quantileQuery(q, histogram, match, by, windowMs), by);
  }

  latest(metric: string, match: Matcher[], by: string[]): Promise<GroupValue[]> {
    return this.query(latestQuery(metric, match, by), by);
  }

  /** One instant query; rows whose value is not a number (a quantile of nothing) are left out. */
  async query(promql: string, by: string[]): Promise<GroupValue[]> {
    const url = new URL('api/v1/query', this.url.href.endsWith('/') ? this.url : `${this.url.href}/`);
    url.searchParams.set('query', promql);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new VizError('UNAVAILABLE', `Prometheus at ${this.url.href}: ${cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let answer: PromAnswer;
    try {
      answer = JSON.parse(text) as PromAnswer;
    } catch {
      throw new VizError('UNAVAILABLE', `Prometheus at ${this.url.href} answered HTTP ${res.status} with something that is not JSON: ${text.slice(0, 120)}`);
    }
    if (answer.status !== 'success' || !answer.data) {
      throw new VizError('UNAVAILABLE', `Prometheus at ${this.url.href} refused ${promql}: ${answer.error ?? `HTTP ${res.status}`}`);
    }
    const out: GroupValue[] = [];
    for (const r of answer.data.result) {
      const value = Number(r.value[1]);
      if (!Number.isFinite(value)) continue;
      const labels: Record<string, string> = {};
      for (const name of by) labels[name] = r.metric[name] ?? '';
      out.push({ labels, value });
    }
    return out;
  }
}
