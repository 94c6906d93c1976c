// The one flag parser every command uses: node's parseArgs with the mesh's usage errors (which
// flag, what is wrong), switches that take =true/=false, duration flags in Go's grammar, and count
// flags that are whole numbers (in the commands and the benchmarks, run as real processes).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countFlag, durationFlag, parseFlags, secondsFlag, UsageError } from '../../cli/args.ts';
import { runMesh } from './run-mesh.ts';

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

describe('countFlag', () => {
  it('takes whole numbers written in digits, and refuses fractions and other spellings naming the flag and the value', () => {
    expect(countFlag('20', '--connections')).toBe(20);
    expect(countFlag('1', '--repeat')).toBe(1);
    expect(countFlag('10000', '--connections', 10_000)).toBe(10_000);
    expect(refusal(() => countFlag('1.5', '--connections')).message).toBe('--connections must be a whole number above zero, got "1.5"');
    for (const bad of ['0', '-1', '', ' 2', '1e3', '0x10', '2.0', 'Infinity', 'NaN', '99999999999999999999']) {
      expect(refusal(() => countFlag(bad, '--repeat')).message).toBe(`--repeat must be a whole number above zero, got "${bad}"`);
    }
    expect(refusal(() => countFlag('10001', '--connections', 10_000)).message).toBe('--connections must be a whole number from 1 to 10000, got "10001"');
    expect(countFlag('0', '--proxy-uid', 100, 0)).toBe(0);
    expect(refusal(() => countFlag('0x10', '--proxy-uid', 100, 0)).message).toBe('--proxy-uid must be a whole number from 0 to 100, got "0x10"');
  });
});

describe('secondsFlag', () => {
  it('takes seconds in plain digits (to the millisecond), above zero and up to the flag limit, naming the flag and the value', () => {
    expect(secondsFlag('10', '--duration', 3600)).toBe(10);
    expect(secondsFlag('2.5', '--restart-backoff', 300)).toBe(2.5);
    expect(secondsFlag('0.001', '--restart-backoff', 300)).toBe(0.001);
    expect(secondsFlag('300', '--restart-backoff', 300)).toBe(300);
    for (const bad of ['0', '0.0', '-1', '', ' 2', '1e1', '0x10', '.5', '5.', '1.2345', 'Infinity', 'NaN', '10s', '301']) {
      expect(refusal(() => secondsFlag(bad, '--restart-backoff', 300)).message).toBe(`--restart-backoff must be seconds above 0 to 300, in plain digits such as 10 or 2.5, got "${bad}"`);
    }
  });

  it('is what the commands use: mesh load and mesh demo refuse 0x10 and 1e1 with exit 2 before starting anything', async () => {
    const load = await runMesh(['load', '--duration', '0x10']);
    expect([load.code, load.err]).toEqual([2, expect.stringContaining('--duration must be seconds above 0 to 3600, in plain digits such as 10 or 2.5, got "0x10"')]);
    const demo = await runMesh(['demo', '--restart-backoff', '1e1']);
    expect([demo.code, demo.err]).toEqual([2, expect.stringContaining('--restart-backoff must be seconds above 0 to 300, in plain digits such as 10 or 2.5, got "1e1"')]);
  });
});

/** `node bin/run.js FILE args` (a benchmark) to its end, output read until 'close'. */
function runScript(file: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const root = join(import.meta.dirname, '../..');
  const child = spawn(process.execPath, [join(root, 'bin/run.js'), file, ...args], { cwd: root, env: { ...process.env, MESH_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out, err })));
}

describe('count flags of the commands and benchmarks refuse fractions before doing anything', () => {
  it('mesh load --connections 1.5', async () => {
    const r = await runMesh(['load', '--connections', '1.5', '--state', '/nonexistent']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--connections must be a whole number from 1 to 10000, got "1.5"');
  });

  it('mesh destination serve --registration-grace 1e3, 0x10, -1', async () => {
    for (const bad of ['1e3', '0x10', '-1']) {
      const r = await runMesh(['destination', 'serve', '--resources', '/nonexistent', `--registration-grace=${bad}`]);
      expect([r.code, r.err]).toEqual([2, expect.stringContaining(`--registration-grace must be a whole number from 0 to 2147483647, got "${bad}"`)]);
    }
  });

  it('npm run chaos -- --repeat 1.5, npm run bench -- --connections 1.5, import-cost and intercept', async () => {
    const [chaos, bench, importCost, intercept] = await Promise.all([
      runScript('bench/chaos/index.ts', ['--repeat', '1.5']),
      runScript('bench/index.ts', ['--connections', '2.5']),
      runScript('bench/import-cost.ts', ['--rounds', '0.5']),
      runScript('bench/intercept.ts', ['--rounds', '3', '--connections', '1e2']),
    ]);
    expect(chaos.err).toContain('chaos: --repeat must be a whole number above zero, got "1.5"');
    expect(chaos.code).toBe(1);
    expect(bench.err).toContain('bench: --connections must be a whole number above zero, got "2.5"');
    expect(bench.code).toBe(1);
    expect(importCost.err.trim()).toBe('import-cost: --rounds must be a whole number above zero, got "0.5"');
    expect(importCost.code).toBe(2);
    expect(intercept.err.trim()).toBe('intercept: --connections must be a whole number above zero, got "1e2"');
    expect(intercept.code).toBe(2);
  });
});
