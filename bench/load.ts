// One load run with autocannon, with latencies recorded at sub-millisecond resolution.
//
// autocannon's own latency histogram holds whole milliseconds, too coarse for "added p50 under
// 1 ms": every response's exact time also goes into our own array and percentiles come from it.
import autocannon from 'autocannon';

export interface LoadOptions {
  title: string;
  url: string;
  headers?: Record<string, string>;
  method?: 'GET' | 'POST';
  body?: string;
  connections: number;
  durationSeconds: number;
  /** Requests per second across all connections (fixed-rate run); unset: as fast as possible. */
  overallRate?: number;
}

export interface LoadResult {
  title: string;
  requests: number;
  /** Responses per second over the run. */
  rps: number;
  /** Latency percentiles in milliseconds (fractional). */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  connections: number;
  durationSeconds: number;
  overallRate?: number;
  /** Every 2xx response's latency (ms), sorted: kept so that interleaved runs can be merged. */
  samples: Float64Array;
}

export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        title: opts.title,
        url: opts.url,
        headers: opts.headers,
        method: opts.method ?? 'GET',
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        connections: opts.connections,
        duration: opts.durationSeconds,
        overallRate: opts.overallRate,
        pipelining: 1,
        timeout: 10,
      },
      (err, result) => {
        if (err) return reject(new Error(`${opts.title}: autocannon failed: ${err instanceof Error ? err.message : String(err)}`));
        const sorted = Float64Array.from(latencies).sort();
        resolve({
          title: opts.title,
          requests: sorted.length,
          rps: sorted.length / result.duration,
          p50: percentile(sorted, 0.5),
          p90: percentile(sorted, 0.9),
          p99: percentile(sorted, 0.99),
          max: sorted.length ? sorted[sorted.length - 1]! : 0,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          connections: opts.connections,
          durationSeconds: result.duration,
          overallRate: opts.overallRate,
          samples: sorted,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}

/** One result from several runs of the same path (interleaved with other paths' runs). */
export function mergeLoads(title: string, parts: LoadResult[]): LoadResult {
  const total = parts.reduce((n, p) => n + p.samples.length, 0);
  const merged = new Float64Array(total);
  let at = 0;
  for (const p of parts) {
    merged.set(p.samples, at);
    at += p.samples.length;
  }
  merged.sort();
  const seconds = parts.reduce((n, p) => n + p.durationSeconds, 0);
  const sum = (pick: (p: LoadResult) => number) => parts.reduce((n, p) => n + pick(p), 0);
  return {
    title,
    requests: total,
    rps: total / seconds,
    p50: percentile(merged, 0.5),
    p90: percentile(merged, 0.9),
    p99: percentile(merged, 0.99),
    max: total ? merged[total - 1]! : 0,
    errors: sum((p) => p.errors),
    timeouts: sum((p) => p.timeouts),
    non2xx: sum((p) => p.non2xx),
    connections: parts[0]?.connections ?? 0,
    durationSeconds: seconds,
    overallRate: parts[0]?.overallRate,
    samples: merged,
  };
}

export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
