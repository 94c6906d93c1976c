// Reads `mesh check`'s table back into results, and the README's samples of it, for the tests
// that hold the README to what the command prints.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MARK, type CheckResult, type Outcome } from '../../cli/check/report.ts';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

/** The fenced block that follows `$ <command>` in the README's mesh check section. */
export function sample(command: string): string {
  const at = README.indexOf(`$ ${command}\n`);
  if (at < 0) throw new Error(`README.md shows no "$ ${command}"`);
  const body = README.slice(at + command.length + 3);
  return body.slice(0, body.indexOf('```'));
}

const OUTCOME = new Map<string, Outcome>(Object.entries(MARK).map(([k, v]) => [v, k as Outcome]));

/** Reads results back from a table; the detail is a pass line's last parenthesised group. */
export function parseTable(text: string): CheckResult[] {
  const lines = text.split('\n');
  const results: CheckResult[] = [];
  let category = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (lines[i + 1] !== undefined && /^-+$/.test(lines[i + 1]!) && lines[i + 1]!.length === line.length) {
      category = line;
      i++;
      continue;
    }
    const outcome = OUTCOME.get(line[0] ?? '');
    if (outcome && line[1] === ' ') {
      const m = outcome === 'ok' ? /^(.*?)(?: \(([^()]*)\))?$/.exec(line.slice(2))! : [line, line.slice(2)];
      results.push({ category, description: m[1]!, outcome, ...(m[2] ? { detail: m[2] } : {}) });
    } else if (line.startsWith('    hint: ')) {
      results.at(-1)!.hint = line.slice(10);
    } else if (line.startsWith('    ') && results.at(-1)?.hint !== undefined) {
      results.at(-1)!.hint += `\n${line.slice(4)}`;
    } else if (line.startsWith('    ')) {
      const last = results.at(-1)!;
      last.error = last.error === undefined ? line.slice(4) : `${last.error}\n${line.slice(4)}`;
    } else if (line !== '' && !line.startsWith('Status check results are ')) {
      throw new Error(`README sample line ${i + 1} is not in mesh check's format: "${line}"`);
    }
  }
  return results;
}

/** What a check is, without where: addresses and folders differ between the README and a test. */
export function shape(results: CheckResult[]): string[] {
  return results.map((r) => `${r.category}: ${r.description.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR').replace(/ in \S+ is valid$/, ' in DIR is valid')}`);
}
