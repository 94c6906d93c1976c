// What stat, routes and edges ask of metrics, in PromQL's terms, so the same questions are
// answered by the viz's own scrapes (local-source.ts) or by a real Prometheus (prometheus-source.ts).

/**
 * `label="value"` (a value of "" also matches an absent label, as in PromQL), `label!="value"`,
 * or `label` one of `values` (PromQL `=~"a|b"`, the values escaped).
 */
export type Matcher = { label: string; op: '=' | '!='; value: string } | { label: string; op: 'in'; values: string[] };

/** One result row: the grouping labels and a number. */
export interface GroupValue {
  labels: Record<string, string>;
  value: number;
}

export interface MetricsSource {
  /** `sum by (by) (rate(metric{match}[window]))`: per-second growth of a counter. */
  rate(metric: string, match: Matcher[], by: string[], windowMs: number): Promise<GroupValue[]>;
  /** `histogram_quantile(q, sum by (le, by) (rate(histogram_bucket{match}[window])))`, in the histogram's unit. */
  quantile(q: number, histogram: string, match: Matcher[], by: string[], windowMs: number): Promise<GroupValue[]>;
  /** `sum by (by) (metric{match})`: a gauge's latest values. */
  latest(metric: string, match: Matcher[], by: string[]): Promise<GroupValue[]>;
}

export const eq = (label: string, value: string): Matcher => ({ label, op: '=', value });
export const ne = (label: string, value: string): Matcher => ({ label, op: '!=', value });
/** One of `values`; a single value is plain equality. */
export const oneOf = (label: string, values: string[]): Matcher => (values.length === 1 ? eq(label, values[0]!) : { label, op: 'in', values });

export function matches(labels: Record<string, string>, match: Matcher[]): boolean {
  for (const m of match) {
    const v = labels[m.label] ?? '';
    if (m.op === 'in' ? !m.values.includes(v) : m.op === '=' ? v !== m.value : v === m.value) return false;
  }
  return true;
}

/** The grouping key of `labels` under `by`, and the labels it keeps. */
export function groupOf(labels: Record<string, string>, by: string[]): { key: string; labels: Record<string, string> } {
  const kept: Record<string, string> = {};
  let key = '';
  for (const name of by) {
    const v = labels[name] ?? '';
    kept[name] = v;
    key += `${v}\u0000`;
  }
  return { key, labels: kept };
}
