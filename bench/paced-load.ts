// A fixed-rate load that really is fixed: requests sent at evenly spaced moments, whatever the
// responses do (an "open-loop" generator, as wrk2 is), over undici keep-alive connections.
//
// Why not autocannon's `overallRate`: autocannon keeps a count per connection per second and,
// once a second begins, sends that connection's whole share back to back, then waits for the
// next second (node_modules/autocannon/lib/httpClient.js: `reqsMadeThisSecond`, reset by a
// 1 s setInterval). "1,000 req/s over 10 connections" is then ten connections each firing 100
// requests as fast as they can at the top of every second: a saturating burst, followed by
// nothing. Its p50 is the latency under that burst (queueing in four processes on two cores),
// not the latency a request sees when the offered load is 1,000 req/s. This generator sends one
// request about every 1/rate seconds instead, and reports how late each send was.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { percentile, type LoadResult } from './load.ts';

export interface PacedOptions {
  title: string;
  url: string;
  headers?: Record<string, string>;
  method?: 'GET' | 'POST';
  body?: string;
  /** Requests per second, spread evenly. */
  rate: number;
  durationSeconds: number;
  /** Most connections to open (requests in flight at once); a request waits for a free one. */
  connections: number;
}

export interface PacedResult extends LoadResult {
  /** How late the generator sent its requests against their planned moments (ms, p99). */
  sendLateP99: number;
}

export async function runPaced(opts: PacedOptions): Promise<PacedResult> {
  const target = new URL(opts.url);
  // Bounded waits, so a stuck request ends as an error and the run still stops by itself.
  const pool = new Pool(target.origin, { connections: opts.connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const path = target.pathname + target.search;
  const total = Math.round(opts.rate * opts.durationSeconds);
  const interval = 1000 / opts.rate;
  const latencies: number[] = [];
  const late: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let outstanding = 0;

  const send = (plannedAt: number) => {
    const sentAt = performance.now();
    late.push(sentAt - plannedAt);
    outstanding++;
    pool
      .request({ path, method: opts.method ?? 'GET', headers: opts.headers, body: opts.body })
      .then(async (res) => {
        await res.body.dump();
        const took = performance.now() - sentAt;
        if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(took);
        else non2xx++;
      })
      .catch(() => errors++)
      .finally(() => outstanding--);
  };

  const start = performance.now();
  await new Promise<void>((done) => {
    let next = 0;
    // Node's timers fire at best each millisecond: each wake sends every request whose moment
    // has come (usually one), then sleeps until the next one's moment.
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) send(start + interval * next++);
      if (next >= total) return done();
      setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    tick();
  });
  while (outstanding > 0) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();

  const sorted = Float64Array.from(latencies).sort();
  return {
    title: opts.title,
    requests: sorted.length,
    rps: sorted.length / seconds,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
    errors,
    timeouts: 0,
    non2xx,
    connections: opts.connections,
    durationSeconds: seconds,
    overallRate: opts.rate,
    samples: sorted,
    sendLateP99: percentile(Float64Array.from(late).sort(), 0.99),
  };
}
