// The conventions every `mesh` subcommand shares: `--help`, required flags, and usage errors
// that say what was wrong and show the usage, with exit code 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

/** `--help` was asked for: the usage goes to stdout, exit code 0. */
class HelpRequested extends Error {}

/** parseArgs plus `-h/--help` and required flags; throws UsageError naming what is wrong. */
export function parseCommandArgs<O extends Options>(
  args: string[],
  options: O,
  { required = [], positionals = false }: { required?: Array<keyof O & string>; positionals?: boolean } = {},
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, unknown>;
  if (values['help']) throw new HelpRequested();
  const missing = required.filter((name) => values[name] === undefined || values[name] === '');
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}`);
  return parsed;
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
