// The mesh's one duration grammar, Go's `time.ParseDuration` as Kubernetes resources write it
// ("300ms", "1.5h", "2h45m", "-1m"): in the resources the destination reads and in every
// command's flags, so an operator learns one way to write a time.
import { CodedError } from './errors.ts';

/** Text that is not a duration; the message says what is wrong and where in the text. */
export class DurationError extends CodedError<'BAD_DURATION'> {
  override readonly name = 'DurationError';
}

/** Go's units; `µs` is written with the micro sign (U+00B5) or the Greek mu (U+03BC), as Go accepts both. */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const UNITS = 'ns, us, µs, ms, s, m, h';
const PART = /(\d*(?:\.\d*)?)([^\d.]*)/y;

/**
 * Milliseconds in `text` (fractional below one millisecond), negative when it starts with "-".
 * "0" alone needs no unit. Throws DurationError: `"1h30": "30" has no unit (...)`.
 */
export function parseDuration(text: string): number {
  const fail = (why: string): never => {
    throw new DurationError('BAD_DURATION', `${JSON.stringify(text)} is not a duration: ${why} (write e.g. 300ms, 1.5h, 2h45m)`);
  };
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.startsWith('-') || text.startsWith('+') ? text.slice(1) : text;
  if (body === '0') return 0;
  if (body === '') fail(text === '' ? 'it is empty' : 'a sign needs a number after it');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < body.length) {
    const at = PART.lastIndex;
    const [, number, unit] = PART.exec(body)!;
    if (number === '' || number === '.') fail(`expected a number at ${JSON.stringify(body.slice(at))}`);
    if (unit === '') fail(`${JSON.stringify(number)} has no unit (${UNITS})`);
    const scale = UNIT_MS[unit!] ?? fail(`unknown unit ${JSON.stringify(unit)} (${UNITS})`);
    total += Number(number) * scale;
  }
  if (!Number.isFinite(total)) fail('it is too long');
  return sign * total;
}
