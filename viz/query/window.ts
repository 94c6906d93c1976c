// The time windows stat, routes and edges look back over: any duration from 10 s to 10 min,
// written as Go writes durations (`10s`, `1m`, `1m30s`), as `linkerd viz stat -t` takes them.
import { durationMs } from '../../destination/store/field-reader.ts';
import { VizError } from '../errors.ts';

export const MIN_WINDOW_MS = 10_000;
export const MAX_WINDOW_MS = 600_000;
export const DEFAULT_WINDOW = '1m';

/** Milliseconds of a window, or a VizError saying what is allowed. */
export function parseWindow(text: string | undefined): number {
  const value = text ?? DEFAULT_WINDOW;
  let ms: number;
  try {
    ms = durationMs(value, 'window');
  } catch {
    throw new VizError('BAD_ARGUMENT', `window "${value}" is not a duration; use 10s, 1m or 10m (anything from 10s to 10m)`);
  }
  if (ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) {
    throw new VizError('BAD_ARGUMENT', `window "${value}" is out of range: the viz keeps 10s to 10m of history`);
  }
  return ms;
}
