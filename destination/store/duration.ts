// Go-style durations as Kubernetes resources write them ("500ms", "10s", "1m30s"), to milliseconds.
import { FieldError, shown } from './field-reader.ts';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;

/** Parses `value` or throws a FieldError at `path`; "0" and "0s" are zero (no timeout). */
export function durationMs(value: unknown, path: string): number {
  if (typeof value !== 'string' || value === '') {
    throw new FieldError(path, `must be a duration such as "500ms" or "10s", got ${shown(value)}`);
  }
  if (value === '0') return 0;
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(value); m; m = PART.exec(value)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = PART.lastIndex;
  }
  if (consumed !== value.length || consumed === 0) {
    throw new FieldError(path, `must be a duration such as "500ms" or "10s", got ${shown(value)}`);
  }
  return Math.round(total);
}
