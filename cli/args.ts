// The conventions every `mesh` subcommand shares: `--help`, required flags, and usage errors
// that say what was wrong and show the usage, with exit code 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CodedError } from '../api/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values node:util's parseArgs gives for `options` (`help` is handled here, so it is left out). */
type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>['values'];

/** The flags parseCommandArgs returns for `options`, with the `required` ones typed as present. */
export type CommandValues<O extends Options, R extends keyof O & string = never> = Omit<ParsedValues<O>, R> & {
  [K in R & keyof ParsedValues<O>]-?: NonNullable<ParsedValues<O>[K]>;
};

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends CodedError<'USAGE'> {
  constructor(message: string, options?: ErrorOptions) {
    super('USAGE', message, options);
  }
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
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals !== false, strict: true });
  } catch (err) {
    // node's messages name the flag and say what is wrong ("Unknown option '--ttl'. ...").
    throw new UsageError((err as Error).message, { cause: err });
  }
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
