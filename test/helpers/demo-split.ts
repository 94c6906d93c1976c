// The lesson's canary split and retries, seen from a demo test: checkouts sent in batches through
// the front door, about a tenth of them served by orders' canary, and payments' failures retried
// (orders' retry_total grows). Shared by the local, compose and --netns demo tests, each with the
// load and the bounds its machine can keep.
import { expect } from 'vitest';
import { sumOf } from '../../api/prom-samples.ts';
import type { Sample } from '../../api/prom-text.ts';

export interface CheckoutResult {
  status: number;
  json: any;
}

export interface SplitCheck {
  /** One checkout through the demo's front door. */
  checkout(): Promise<CheckoutResult>;
  /** A pod's proxy's parsed /metrics. */
  metrics(pod: string): Promise<Sample[]>;
  /** Checkouts sent as `batches` rounds of `concurrent` at once. */
  batches: number;
  concurrent: number;
  /** The least share of checkouts answered 201. */
  minOk: number;
  /** Bounds (exclusive) of the canary's share of the successful checkouts. */
  canaryBetween: [number, number];
  /** Retries orders' proxies must have made meanwhile (more than this). */
  minRetries: number;
}

/** Sends the checkouts and checks the split and the retries; returns every checkout's result. */
export async function expectCanarySplitWithRetries(c: SplitCheck): Promise<CheckoutResult[]> {
  const retries = async () => sumOf(await c.metrics('orders-stable-0'), 'retry_total') + sumOf(await c.metrics('orders-canary-0'), 'retry_total');
  const before = await retries();
  const results: CheckoutResult[] = [];
  for (let batch = 0; batch < c.batches; batch++) results.push(...(await Promise.all(Array.from({ length: c.concurrent }, () => c.checkout()))));
  const ok = results.filter((r) => r.status === 201);
  const canaries = ok.filter((r) => r.json.servedBy === 'canary').length;
  const counts = `${ok.length} of ${results.length} checkouts answered 201, ${canaries} of them by the canary`;
  expect(ok.length / results.length, `${counts}; the first others: ${JSON.stringify(results.filter((r) => r.status !== 201).slice(0, 3))}`).toBeGreaterThan(c.minOk);
  const canary = canaries / ok.length;
  expect(canary, counts).toBeGreaterThan(c.canaryBetween[0]);
  expect(canary, counts).toBeLessThan(c.canaryBetween[1]);
  expect((await retries()) - before).toBeGreaterThan(c.minRetries);
  return results;
}
