// The one duration grammar, Go's time.ParseDuration: what it reads, and what it refuses with
// the reason and the place in the text.
import { describe, expect, it } from 'vitest';
import { DurationError, parseDuration } from '../../api/duration.ts';

describe('parseDuration', () => {
  it('reads Go durations as milliseconds', () => {
    const cases: Array<[string, number]> = [
      ['300ms', 300], ['1.5h', 5_400_000], ['2h45m', 9_900_000], ['1m30s', 90_000], ['10s', 10_000],
      ['0', 0], ['0s', 0], ['-1.5h', -5_400_000], ['+5s', 5_000], ['.5s', 500], ['1.s', 1_000],
      ['1500us', 1.5], ['1500µs', 1.5], ['1500μs', 1.5], ['2000000ns', 2], ['1h1m1s1ms', 3_661_001], ['24h', 86_400_000],
    ];
    for (const [text, ms] of cases) expect(parseDuration(text), text).toBeCloseTo(ms, 9);
  });

  it('refuses what Go refuses, saying what is wrong and where', () => {
    const cases: Array<[string, string]> = [
      ['', '"" is not a duration: it is empty'],
      ['-', '"-" is not a duration: a sign needs a number after it'],
      ['10', '"10" is not a duration: "10" has no unit (ns, us, µs, ms, s, m, h)'],
      ['1h30', '"1h30" is not a duration: "30" has no unit'],
      ['1d', '"1d" is not a duration: unknown unit "d"'],
      ['5 s', '"5 s" is not a duration: unknown unit " s"'],
      ['h', '"h" is not a duration: expected a number at "h"'],
      ['1h.m', '"1h.m" is not a duration: expected a number at ".m"'],
      ['abc', '"abc" is not a duration: expected a number at "abc"'],
      ['9'.repeat(400) + 'h', 'is not a duration: it is too long'],
    ];
    for (const [text, message] of cases) {
      expect(() => parseDuration(text), text).toThrow(expect.objectContaining({ name: 'DurationError', code: 'BAD_DURATION', message: expect.stringContaining(message) }));
    }
    expect(() => parseDuration('1d')).toThrow(DurationError);
  });
});
