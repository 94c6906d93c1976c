// The one flag parser of every `mesh` command, the proxy's settings included: node:util's
// parseArgs behind the conventions they share: `--help`, required flags, switches that also take
// `=true`/`=false`, and usage errors that say which flag and what was wrong (exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DurationError, parseDuration } from '../api/duration.ts';
import { codedError, CodedError } from '../api/errors.ts';
import { plainSeconds, plainSecondsRange } from '../api/plain-seconds.ts';
import { wholeNumber, wholeNumberRange } from '../api/whole-number.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values node:util's parseArgs gives for `options` (`help` is handled here, so it is left out). */
export type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>['values'];

/** The flags parseCommandArgs returns for `options`, with the `required` ones typed as present. */
export type CommandValues<O extends Options, R extends keyof O & string = never> = Omit<ParsedValues<O>, R> & {
  [K in R & keyof ParsedValues<O>]-?: NonNullable<ParsedValues<O>[K]>;
};

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends codedError('USAGE') {}

const SWITCH_VALUES: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

/** `--flag value`, `--flag=value`, `-f`, switches (`--watch`, `--watch=false`); throws UsageError. */
export function parseFlags<O extends Options>(args: string[], options: O, allowPositionals: boolean): { values: ParsedValues<O>; positionals: string[] } {
  // parseArgs' switches take no value (`--no-x` comes only in Node 22): `--x=false` is read here.
  const written = new Map<string, { on: boolean; at: number }>();
  const end = args.includes('--') ? args.indexOf('--') : args.length; // after `--`, all is positional
  const rest = args.filter((arg, at) => {
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (!m || at > end || options[m[1]!]?.type !== 'boolean') return true;
    const on = SWITCH_VALUES[m[2]!];
    if (on === undefined) throw new UsageError(`option --${m[1]} is a switch: write --${m[1]}, --${m[1]}=true or --${m[1]}=false, got "${m[2]}"`);
    written.set(m[1]!, { on, at });
    return false;
  });
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(explain(rest, options, allowPositionals) ?? (err as Error).message, { cause: err });
  }
  const values = parsed.values as Record<string, unknown>;
  // The last of `--x=false` and a bare `--x` wins, as for any repeated flag.
  for (const [name, { on, at }] of written) if (!args.slice(at + 1, end).includes(`--${name}`)) values[name] = on;
  return parsed as unknown as { values: ParsedValues<O>; positionals: string[] };
}

/** Which argument parseArgs refused and why, read from its own tokens (node's messages vary by version). */
function explain(args: string[], options: Options, allowPositionals: boolean): string | undefined {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'positional' && !allowPositionals) return `unexpected argument "${t.value}" (options start with --)`;
    if (t.kind !== 'option') continue;
    const spec = options[t.name];
    if (!spec) return `unknown option "${t.rawName}"`;
    if (spec.type === 'boolean' && t.value !== undefined) return `option ${t.rawName} takes no value`;
    if (spec.type === 'string' && t.value === undefined) return `option ${t.rawName} needs a value`;
    if (spec.type === 'string' && !t.inlineValue && t.value?.startsWith('-')) {
      return `option ${t.rawName} needs a value, got the option "${t.value}" (write ${t.rawName}=${t.value} if that is the value)`;
    }
  }
  return undefined;
}

/** A positive duration flag (`--ttl 24h`, `--cert-lifetime 90m`) in whole milliseconds; throws UsageError naming the flag. */
export function durationFlag(text: string, flag: string): number {
  let ms: number;
  try {
    ms = Math.round(parseDuration(text));
  } catch (err) {
    if (err instanceof DurationError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
  if (ms <= 0) throw new UsageError(`${flag}: "${text}" must be longer than zero`);
  return ms;
}

/**
 * A seconds flag (`--duration 10`, `--restart-backoff 2.5`): more than zero and at most `max`,
 * in plain digits (api/plain-seconds.ts). Throws UsageError naming the flag and the value.
 */
export function secondsFlag(text: string, flag: string, max: number): number {
  const s = plainSeconds(text, 0, max);
  if (s === undefined || s === 0) throw new UsageError(`${flag} must be ${plainSecondsRange(0, max, true)}, got "${text}"`);
  return s;
}

/** A positive number flag (`--rate 20`, `--backoff 0.5`); throws UsageError naming the flag. */
export function positiveFlag(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${text}"`);
  return n;
}

/**
 * A count flag (`--connections 20`, `--repeat 3`, `--proxy-uid 2102`): a whole number from `min`
 * (1 unless said) to `max`, written in plain digits (api/whole-number.ts). A count of 1.5 or 1e3 is
 * a mistake to say, not to round. Throws UsageError naming the flag and the value.
 */
export function countFlag(text: string, flag: string, max = Number.MAX_SAFE_INTEGER, min = 1): number {
  const n = wholeNumber(text, min, max);
  if (n === undefined) throw new UsageError(`${flag} must be ${wholeNumberRange(min, max)}, got "${text}"`);
  return n;
}

/** `--help` was asked for: the usage goes to stdout, exit code 0. */
class HelpRequested extends CodedError<'HELP_REQUESTED'> {
  constructor() {
    super('HELP_REQUESTED', 'help requested');
  }
}

/** `--a`, `--a and --b`, `--a, --b and --c`. */
function flagList(names: string[]): string {
  const flags = names.map((n) => `--${n}`);
  return flags.length === 1 ? flags[0]! : `${flags.slice(0, -1).join(', ')} and ${flags.at(-1)}`;
}

/**
 * Which positionals a command takes: none (false), any number (true), or exactly `count`, where
 * `expected` says what they are for the error ("one file (or - for stdin)").
 */
type Positionals = boolean | { count: number; expected: string };

/**
 * parseArgs plus `-h/--help`, required flags and the positional count; throws UsageError naming
 * what is wrong. The required flags come back typed as present.
 */
export function parseCommandArgs<O extends Options, R extends keyof O & string = never>(
  args: string[],
  options: O,
  { required = [], positionals = false }: { required?: R[]; positionals?: Positionals } = {},
): { values: CommandValues<O, R>; positionals: string[] } {
  const parsed = parseFlags(args, { ...options, help: { type: 'boolean', short: 'h' } }, positionals !== false);
  const values = parsed.values as Record<string, unknown>;
  if (values['help']) throw new HelpRequested();
  const missing = required.filter((name) => values[name] === undefined || values[name] === '');
  if (missing.length > 0) throw new UsageError(`${flagList(missing)} ${missing.length === 1 ? 'is' : 'are'} required`);
  const given = parsed.positionals;
  if (typeof positionals === 'object' && given.length !== positionals.count) {
    throw new UsageError(`expected ${positionals.expected}, got ${given.length}${given.length > 0 ? `: ${given.join(' ')}` : ''}`);
  }
  return parsed as unknown as { values: CommandValues<O, R>; positionals: string[] };
}

/** Runs a command body, turning help and usage errors into their output and exit codes. */
export async function runCommand(name: string, usage: string, body: () => Promise<number | void>): Promise<number> {
  try {
    return (await body()) ?? 0;
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(usage);
      return 0;
    }
    if (err instanceof UsageError) {
      console.error(`mesh ${name}: ${err.message}\n${usage}`);
      return 2;
    }
    throw err;
  }
}
