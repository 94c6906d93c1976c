// The demo's hops between proxies, seen from a test: every pod that other meshed pods call has
// answered over mTLS and only over mTLS. Shared by the local and the compose demo tests.
import { expect } from 'vitest';
import { sumOf } from '../../api/prom-samples.ts';
import type { Sample } from '../../api/prom-text.ts';

/** The demo's pods whose callers are all meshed. */
const CALLED_BY_MESHED_PODS = ['checkout-0', 'orders-stable-0', 'payments-0'];

/** Reads each pod's inbound response counts through `metrics` (its proxy's parsed /metrics). */
export async function expectInboundOnlyOverMtls(metrics: (pod: string) => Promise<Sample[]>): Promise<void> {
  for (const pod of CALLED_BY_MESHED_PODS) {
    const samples = await metrics(pod);
    const all = sumOf(samples, 'response_total', { direction: 'inbound' });
    const overMtls = sumOf(samples, 'response_total', { direction: 'inbound', tls: 'true' });
    expect(overMtls, pod).toBeGreaterThan(0);
    expect(all - overMtls, `${pod}: inbound responses without mTLS`).toBe(0);
  }
}
