// `-o`: tables by default, `-o wide` for more columns, `-o json` for programs.
import { UsageError } from '../../cli/args.ts';

export type OutputFormat = 'table' | 'wide' | 'json';

export function outputFormat(flag: string | undefined, allowed: OutputFormat[] = ['table', 'wide', 'json']): OutputFormat {
  const value = (flag ?? 'table') as OutputFormat;
  if (!allowed.includes(value)) throw new UsageError(`-o must be one of ${allowed.filter((f) => f !== 'table').join(', ')} (or none for a table), got "${flag}"`);
  return value;
}
