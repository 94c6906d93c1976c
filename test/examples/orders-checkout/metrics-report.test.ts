// The load report's reading of /metrics: real prom-client output parsed back, differences over
// a window, and quantiles from histogram buckets as Prometheus computes them.
import { describe, expect, it } from 'vitest';
import { Counter, Histogram, Registry } from 'prom-client';
import { parsePrometheus } from '../../../api/prom-text.ts';
import { bucketsOf, delta, quantile, sumOf } from '../../../api/prom-samples.ts';
import { workloadStats } from '../../../examples/orders-checkout/runner/golden-metrics.ts';
import type { PodRecord } from '../../../examples/orders-checkout/runner/state.ts';

function proxyRegistry() {
  const registry = new Registry();
  const responses = new Counter({ name: 'response_total', help: 'h', labelNames: ['direction', 'authority', 'tls', 'classification', 'status_code'], registers: [registry] });
  const latency = new Histogram({ name: 'response_latency_ms', help: 'h', labelNames: ['direction', 'authority'], buckets: [1, 5, 10, 50, 100], registers: [registry] });
  const retries = new Counter({ name: 'retry_total', help: 'h', labelNames: ['direction', 'authority', 'route'], registers: [registry] });
  return { registry, responses, latency, retries };
}

describe('reading proxy metrics', () => {
  it('parses prom-client text, labels with escapes included', async () => {
    const { registry, responses } = proxyRegistry();
    responses.inc({ direction: 'inbound', authority: 'a "quoted" \\ name', tls: 'true', classification: 'success', status_code: '200' }, 3);
    const samples = parsePrometheus(await registry.metrics());
    const s = samples.find((x) => x.name === 'response_total')!;
    expect(s.labels.authority).toBe('a "quoted" \\ name');
    expect(s.value).toBe(3);
  });

  it('computes quantiles from cumulative buckets by linear interpolation', () => {
    const b = new Map([[10, 50], [20, 100], [Infinity, 100]]);
    expect(quantile(0.5, b)).toBe(10);
    expect(quantile(0.75, b)).toBe(15);
    expect(quantile(0.99, new Map([[Infinity, 0]]))).toBeUndefined();
  });

  it('reports a workload\'s success rate, rate, percentiles and retries over a window', async () => {
    const { registry, responses, latency, retries } = proxyRegistry();
    const inbound = { direction: 'inbound', authority: 'orders:8080', tls: 'true' };
    responses.inc({ ...inbound, classification: 'success', status_code: '200' }, 5); // before the window
    const before = parsePrometheus(await registry.metrics());
    responses.inc({ ...inbound, classification: 'success', status_code: '201' }, 98);
    responses.inc({ ...inbound, classification: 'failure', status_code: '502' }, 2);
    for (let i = 0; i < 90; i++) latency.observe({ direction: 'inbound', authority: 'orders:8080' }, 3);
    for (let i = 0; i < 10; i++) latency.observe({ direction: 'inbound', authority: 'orders:8080' }, 70);
    latency.observe({ direction: 'outbound', authority: 'payments:8080' }, 1000); // outbound: not this workload's latency
    retries.inc({ direction: 'outbound', authority: 'payments:8080', route: 'POST /charge' }, 7);
    const after = parsePrometheus(await registry.metrics());

    const d = delta(before, after);
    expect(sumOf(d, 'response_total', { direction: 'inbound' })).toBe(100);
    expect(bucketsOf(d, 'response_latency_ms', { direction: 'inbound' }).get(Infinity)).toBe(100);

    const pod: PodRecord = { name: 'orders-stable-0', namespace: 'production', workload: 'orders-stable', ip: '127.0.27.3', serviceAccount: 'orders', identity: null, meshed: true, adminUrl: 'x', appPorts: [8080], role: 'workload' };
    const [stats] = workloadStats([pod], new Map([[pod.name, before]]), new Map([[pod.name, after]]), 10);
    expect(stats).toMatchObject({ workload: 'orders-stable', requests: 100, successRate: 0.98, requestsPerSecond: 10, retriesSent: 7 });
    expect(stats!.p50Ms).toBeGreaterThan(1);
    expect(stats!.p50Ms).toBeLessThanOrEqual(5);
    expect(stats!.p99Ms).toBeGreaterThan(50);
    expect(stats!.p99Ms).toBeLessThanOrEqual(100);
  });
});
