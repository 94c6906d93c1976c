// Golden metrics per workload (success rate, request rate, p50/p99) over a time window, from
// the inbound side of each pod's proxy, plus the retries its outbound side made.
import type { PodRecord } from './state.ts';
import { parsePrometheus, type Sample } from '../../../api/prom-text.ts';
import { bucketsOf, delta, quantile, sumOf } from '../../../api/prom-samples.ts';

export interface WorkloadStats {
  workload: string;
  requests: number;
  successRate: number | undefined;
  requestsPerSecond: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Retries this workload's proxy sent to the services it calls. */
  retriesSent: number;
}

export type Scrape = Map<string, Sample[]>;

/** Reads /metrics from every meshed pod; a pod that does not answer is left out, not fatal. */
export async function scrapeAll(pods: PodRecord[]): Promise<Scrape> {
  const out: Scrape = new Map();
  await Promise.all(pods.filter((p) => p.adminUrl).map(async (p) => {
    try {
      const res = await fetch(`${p.adminUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) out.set(p.name, parsePrometheus(await res.text()));
    } catch {
      // Reported as "no data" for that workload.
    }
  }));
  return out;
}

export function workloadStats(pods: PodRecord[], before: Scrape, after: Scrape, seconds: number): WorkloadStats[] {
  const byWorkload = new Map<string, Sample[]>();
  for (const p of pods) {
    const a = after.get(p.name);
    if (!a || p.role === 'ingress') continue;
    const d = delta(before.get(p.name) ?? [], a);
    byWorkload.set(p.workload, [...(byWorkload.get(p.workload) ?? []), ...d]);
  }
  return [...byWorkload.entries()].map(([workload, samples]) => {
    const inbound = { direction: 'inbound' };
    const requests = sumOf(samples, 'response_total', inbound);
    const ok = sumOf(samples, 'response_total', { ...inbound, classification: 'success' });
    const buckets = bucketsOf(samples, 'response_latency_ms', inbound);
    return {
      workload, requests,
      successRate: requests > 0 ? ok / requests : undefined,
      requestsPerSecond: requests / seconds,
      p50Ms: quantile(0.5, buckets), p99Ms: quantile(0.99, buckets),
      retriesSent: sumOf(samples, 'retry_total'),
    };
  });
}
