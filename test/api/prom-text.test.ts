// The one reader of the metrics text format: real prom-client output (histograms, escapes) read
// back into families and samples, and malformed text refused with the line and what was wrong.
import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseFamilies, parsePrometheus, PromTextError } from '../../api/prom-text.ts';
import { bucketsOf, samplesOf, sumOf } from '../../api/prom-samples.ts';

describe('parseFamilies on prom-client output', () => {
  it('groups a histogram\'s buckets, sum and count under its # TYPE, with HELP and labels', async () => {
    const registry = new Registry();
    const latency = new Histogram({ name: 'response_latency_ms', help: 'Latency, in ms\nof responses \\ all', labelNames: ['authority'], buckets: [1, 10], registers: [registry] });
    const total = new Counter({ name: 'request_total', help: 'Requests', labelNames: ['authority'], registers: [registry] });
    const open = new Gauge({ name: 'tcp_open_connections', help: 'Open', registers: [registry] });
    latency.observe({ authority: 'a "b" \\ c\nd' }, 5);
    latency.observe({ authority: 'a "b" \\ c\nd' }, 50);
    total.inc({ authority: 'x,y}z=1' }, 4);
    open.set(-2.5);

    const families = parseFamilies(await registry.metrics());
    const byName = new Map(families.map((f) => [f.name, f]));
    const h = byName.get('response_latency_ms')!;
    expect(h.type).toBe('histogram');
    expect(h.help).toBe('Latency, in ms\nof responses \\ all');
    expect(h.samples.map((s) => s.name)).toEqual(['response_latency_ms_bucket', 'response_latency_ms_bucket', 'response_latency_ms_bucket', 'response_latency_ms_sum', 'response_latency_ms_count']);
    expect(h.samples[0]!.labels).toEqual({ le: '1', authority: 'a "b" \\ c\nd' });
    expect(h.samples[2]!.labels.le).toBe('+Inf');
    expect(byName.get('request_total')).toMatchObject({ type: 'counter', help: 'Requests' });
    expect(byName.get('request_total')!.samples[0]!.labels.authority).toBe('x,y}z=1');
    expect(byName.get('tcp_open_connections')).toMatchObject({ type: 'gauge', samples: [{ value: -2.5 }] });

    const samples = parsePrometheus(await registry.metrics());
    expect(sumOf(samples, 'request_total', { authority: 'x,y}z=1' })).toBe(4);
    expect([...bucketsOf(samples, 'response_latency_ms').entries()]).toEqual([[1, 0], [10, 1], [Infinity, 2]]);
    expect(samplesOf(samples, 'response_latency_ms_count', { le: null })).toHaveLength(1);
  });

  it('reads special values, timestamps and samples with no # TYPE', () => {
    const text = '# a free comment\nup 1 1700000000000\nlatency_seconds{quantile="0.5"} NaN\nlimit +Inf\nfloor -Inf\nsmall 1.5e-3\r\n';
    const families = parseFamilies(text);
    expect(families.map((f) => [f.name, f.type])).toEqual([['up', 'untyped'], ['latency_seconds', 'untyped'], ['limit', 'untyped'], ['floor', 'untyped'], ['small', 'untyped']]);
    const samples = parsePrometheus(text);
    expect(samples[0]).toEqual({ name: 'up', labels: {}, value: 1, timestamp: 1700000000000 });
    expect(samples[1]!.value).toBeNaN();
    expect(samples.slice(2).map((s) => s.value)).toEqual([Infinity, -Infinity, 0.0015]);
  });
});

describe('malformed text', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['no value', 'ok 1\nrequest_total{a="b"}', /line 2: expected a value/],
    ['a word for a value', 'request_total twelve', /line 1: value "twelve" is not a number/],
    ['an unclosed label value', 'request_total{a="b} 1', /label a: value has no closing quote/],
    ['an unquoted label value', 'request_total{a=b} 1', /label a: expected a quoted value/],
    ['a label twice', 'request_total{a="1",a="2"} 1', /label a appears twice/],
    ['an unknown escape', 'request_total{a="\\t"} 1', /unknown escape "\\t"/],
    ['no separator between labels', 'request_total{a="1" b="2"} 1', /expected "," or "}" after label a/],
    ['an unknown type', '# TYPE request_total countr', /line 1: unknown metric type "countr"/],
    ['a bad name', '{a="1"} 1', /line 1: expected a metric name/],
    ['a fractional timestamp', 'up 1 17.5', /timestamp "17.5" is not whole milliseconds/],
    ['three fields', 'up 1 2 3', /expected a value and at most a timestamp/],
  ];
  for (const [what, text, message] of cases) {
    it(`refuses ${what}, naming the line`, () => {
      expect(() => parsePrometheus(text)).toThrow(PromTextError);
      expect(() => parsePrometheus(text)).toThrow(expect.objectContaining({ code: 'BAD_EXPOSITION', message: expect.stringMatching(message) }));
    });
  }
});
