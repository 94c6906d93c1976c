// Questions asked of parsed Prometheus samples: sums over label matches, histogram buckets and
// their quantiles, and the change between two scrapes.
import type { Sample } from './prom-text.ts';

/** Label pairs a sample must carry; a value of null means the label must be absent. */
export type LabelMatch = Record<string, string | null>;

function matches(s: Sample, match: LabelMatch): boolean {
  return Object.entries(match).every(([k, v]) => (v === null ? !(k in s.labels) : s.labels[k] === v));
}

/** The samples named `name` whose labels match `match`, for assertions on label sets. */
export function samplesOf(samples: Sample[], name: string, match: LabelMatch = {}): Sample[] {
  return samples.filter((s) => s.name === name && matches(s, match));
}

/** Sum of the samples named `name` whose labels match `match`. */
export function sumOf(samples: Sample[], name: string, match: LabelMatch = {}): number {
  return samplesOf(samples, name, match).reduce((total, s) => total + s.value, 0);
}

/** A histogram's cumulative buckets (`le` -> count), summed over the series that match. */
export function bucketsOf(samples: Sample[], histogram: string, match: LabelMatch = {}): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const s of samplesOf(samples, `${histogram}_bucket`, match)) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return buckets;
}

/** The q-quantile from cumulative buckets, interpolated linearly inside a bucket as Prometheus does. */
export function quantile(q: number, buckets: Map<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-9);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** `after - before`, sample by sample (counters and buckets are cumulative); a series new in `after` counts from 0. */
export function delta(before: Sample[], after: Sample[]): Sample[] {
  const key = (s: Sample) => `${s.name}{${Object.entries(s.labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
  const old = new Map(before.map((s) => [key(s), s.value]));
  return after.map((s) => ({ ...s, value: s.value - (old.get(key(s)) ?? 0) }));
}
