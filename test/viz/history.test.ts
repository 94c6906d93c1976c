// The viz's windows over its own scrapes, against a clock it controls: a counter's growth is
// read between the window's first scrape and the last, a series born inside the window grew
// from zero, a proxy restart (a drop) counts its new value, and rates sum per pod as
// `sum(rate(...))` does.
import { describe, expect, it } from 'vitest';
import { LocalMetrics } from '../../viz/metrics/local-source.ts';
import { PodHistory } from '../../viz/metrics/history.ts';
import { eq } from '../../viz/metrics/source.ts';

const sample = (value: number, labels: Record<string, string> = {}) => ({ name: 'response_total', labels: { direction: 'inbound', ...labels }, value });

function setup() {
  let now = 0;
  const metrics = new LocalMetrics(5_000, () => now);
  const pod = (name: string, deployment: string) => {
    const h = new PodHistory({ namespace: 'prod', pod: name, deployment }, 125);
    metrics.pods.set(`prod/${name}`, h);
    return h;
  };
  return { metrics, pod, at: (ms: number) => (now = ms) };
}

describe('windows over scrapes', () => {
  it('reads growth between the first scrape inside the window and the last, per second', async () => {
    const { metrics, pod, at } = setup();
    const h = pod('web-0', 'web');
    for (let t = 0; t <= 60_000; t += 5_000) h.add(t, [sample(t / 100)]); // 50 a second
    at(60_000);
    const [g] = await metrics.rate('response_total', [], ['deployment'], 10_000);
    expect(g).toEqual({ labels: { deployment: 'web' }, value: 10 });
  });

  it('counts a series born inside the window from zero, and a restart from its new value', async () => {
    const { metrics, pod, at } = setup();
    const h = pod('web-0', 'web');
    h.add(0, []);
    h.add(5_000, [sample(20)]); // born: 20 in 10 s
    h.add(10_000, [sample(30)]);
    at(10_000);
    expect((await metrics.rate('response_total', [], [], 10_000))[0]!.value).toBe(3);
    h.add(15_000, [sample(4)]); // the proxy restarted: 4 since
    at(15_000);
    expect((await metrics.rate('response_total', [], [], 5_000))[0]!.value).toBeCloseTo(4 / 5);
  });

  it('sums pods and groups by labels, with target labels where the series has none', async () => {
    const { metrics, pod, at } = setup();
    const a = pod('web-0', 'web');
    const b = pod('web-1', 'web');
    const c = pod('api-0', 'api');
    for (const [h, perScrape] of [[a, 10], [b, 20], [c, 5]] as const) {
      h.add(0, [sample(0, { classification: 'success' })]);
      h.add(10_000, [sample(perScrape, { classification: 'success' })]);
    }
    at(10_000);
    const rows = await metrics.rate('response_total', [eq('classification', 'success')], ['deployment'], 10_000);
    expect(rows.sort((x, y) => x.labels.deployment!.localeCompare(y.labels.deployment!))).toEqual([
      { labels: { deployment: 'api' }, value: 0.5 },
      { labels: { deployment: 'web' }, value: 3 },
    ]);
  });

  it('keeps a pod whose scrapes stopped while its last scrape is inside the window, as Prometheus', async () => {
    const { metrics, pod, at } = setup();
    const h = pod('web-0', 'web');
    h.add(0, [sample(0)]);
    h.add(5_000, [sample(50)]);
    at(20_000);
    expect((await metrics.rate('response_total', [], [], 60_000))[0]!.value).toBe(10);
    expect(await metrics.rate('response_total', [], [], 10_000)).toEqual([]);
  });

  it('interpolates quantiles inside buckets, as histogram_quantile does', async () => {
    const { metrics, pod, at } = setup();
    const h = pod('web-0', 'web');
    const buckets = (n: number) => [
      { name: 'response_latency_ms_bucket', labels: { direction: 'inbound', le: '10' }, value: n * 0.5 },
      { name: 'response_latency_ms_bucket', labels: { direction: 'inbound', le: '20' }, value: n },
      { name: 'response_latency_ms_bucket', labels: { direction: 'inbound', le: '+Inf' }, value: n },
    ];
    h.add(0, buckets(0));
    h.add(10_000, buckets(100));
    at(10_000);
    const [p50] = await metrics.quantile(0.5, 'response_latency_ms', [], [], 10_000);
    const [p75] = await metrics.quantile(0.75, 'response_latency_ms', [], [], 10_000);
    expect(p50!.value).toBeCloseTo(10);
    expect(p75!.value).toBeCloseTo(15);
  });
});
