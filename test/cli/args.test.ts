// The one flag parser every command uses: node's parseArgs with the mesh's usage errors (which
// flag, what is wrong), switches that take =true/=false, and duration flags in Go's grammar.
import { describe, expect, it } from 'vitest';
import { durationFlag, parseFlags, UsageError } from '../../cli/args.ts';

const OPTIONS = { addr: { type: 'string' }, watch: { type: 'boolean', short: 'w', default: false }, json: { type: 'boolean' } } as const;

function refusal(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe('USAGE');
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseFlags', () => {
  it('reads --flag value, --flag=value, short switches and positionals', () => {
    const { values, positionals } = parseFlags(['--addr', '127.0.0.1:1', '-w', 'file.yaml'], OPTIONS, true);
    expect(values).toEqual({ addr: '127.0.0.1:1', watch: true });
    expect(positionals).toEqual(['file.yaml']);
    expect(parseFlags(['--addr=h:1', '--addr', 'h:2'], OPTIONS, false).values.addr).toBe('h:2');
  });

  it('takes a switch as --x, --x=true or --x=false; the last one written wins', () => {
    expect(parseFlags(['--watch=false'], OPTIONS, false).values.watch).toBe(false);
    expect(parseFlags(['--json=true'], OPTIONS, false).values.json).toBe(true);
    expect(parseFlags(['--watch=1', '--watch=0'], OPTIONS, false).values.watch).toBe(false);
    expect(parseFlags(['--watch=false', '--watch'], OPTIONS, false).values.watch).toBe(true);
    expect(parseFlags(['--', '--watch=false'], OPTIONS, true).positionals).toEqual(['--watch=false']);
    expect(refusal(() => parseFlags(['--watch=yes'], OPTIONS, false)).message).toBe('option --watch is a switch: write --watch, --watch=true or --watch=false, got "yes"');
  });

  it('names the flag and what is wrong', () => {
    expect(refusal(() => parseFlags(['--adr', 'x'], OPTIONS, false)).message).toBe('unknown option "--adr"');
    expect(refusal(() => parseFlags(['--addr'], OPTIONS, false)).message).toBe('option --addr needs a value');
    expect(refusal(() => parseFlags(['--addr', '--watch'], OPTIONS, false)).message).toBe('option --addr needs a value, got the option "--watch" (write --addr=--watch if that is the value)');
    expect(refusal(() => parseFlags(['stray'], OPTIONS, false)).message).toBe('unexpected argument "stray" (options start with --)');
  });
});

describe('durationFlag', () => {
  it('reads Go durations as whole milliseconds, longer than zero', () => {
    expect(durationFlag('24h', '--ttl')).toBe(86_400_000);
    expect(durationFlag('1h30m', '--ttl')).toBe(5_400_000);
    expect(durationFlag('500ms', '--ttl')).toBe(500);
    expect(refusal(() => durationFlag('10', '--ttl')).message).toBe('--ttl: "10" is not a duration: "10" has no unit (ns, us, µs, ms, s, m, h) (write e.g. 300ms, 1.5h, 2h45m)');
    expect(refusal(() => durationFlag('0s', '--ttl')).message).toBe('--ttl: "0s" must be longer than zero');
    expect(refusal(() => durationFlag('-1h', '--ttl')).message).toBe('--ttl: "-1h" must be longer than zero');
  });
});
