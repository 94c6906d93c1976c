// The README shows `mesh check`'s output: printing the sample's own results with the printer the
// command uses must give back the sample, byte for byte, so the format shown is the format printed.
import { describe, expect, it } from 'vitest';
import { tablePrinter, type CheckResult } from '../../cli/check/report.ts';
import { parseTable, sample } from './check-table.ts';

function reprint(results: CheckResult[]): string {
  let out = '';
  const table = tablePrinter((t) => (out += t));
  for (const r of results) table.observe(r);
  table.end(results);
  return out;
}

describe('README: mesh check', () => {
  for (const command of ['mesh check', 'mesh -n production check --proxy']) {
    it(`"${command}" is shown as it prints`, () => {
      const shown = sample(command);
      const results = parseTable(shown);
      expect(results.length).toBeGreaterThan(5);
      expect(reprint(results)).toBe(shown);
    });
  }
});
