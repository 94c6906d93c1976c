// `mesh check`'s results and their two renderings: Linkerd's table (a category, a dashed rule,
// then one `√`, `‼` or `×` line per check, with the error and a hint under each that did not
// pass) and Linkerd's `-o json` shape.

/** Linkerd's marks, exactly: U+221A, U+203C, U+00D7. */
export const MARK = { ok: '\u221A', warning: '\u203C', error: '\u00D7' } as const;

export type Outcome = keyof typeof MARK;

export interface CheckResult {
  category: string;
  description: string;
  outcome: Outcome;
  /** What is wrong (absent when it passed). */
  error?: string;
  /** What to do about it. */
  hint?: string;
  /** A fact worth showing beside a pass, e.g. `3649 days left`. */
  detail?: string;
}

/** One check's verdict: pass, or a problem with what to do. */
export type Verdict = { outcome: 'ok'; detail?: string } | { outcome: 'warning' | 'error'; error: string; hint: string };

export const ok: Verdict = { outcome: 'ok' };
export const okWith = (detail: string): Verdict => ({ outcome: 'ok', detail });
export const warn = (error: string, hint: string): Verdict => ({ outcome: 'warning', error, hint });
export const fail = (error: string, hint: string): Verdict => ({ outcome: 'error', error, hint });

/** A named check in a category; a check that throws counts as × with the thrown message. */
export interface Check {
  description: string;
  run(): Promise<Verdict> | Verdict;
  /** The hint when `run` throws. */
  hint: string;
  /** When this fails, the rest of its category cannot be checked and is left out (as Linkerd's fatal checks). */
  fatal?: boolean;
}

export interface Category {
  name: string;
  checks: Check[];
}

/** Runs the categories' checks in order, handing each result to `observe` as it is known. */
export async function runChecks(categories: Category[], observe: (r: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const category of categories) {
    for (const check of category.checks) {
      let verdict: Verdict;
      try {
        verdict = await check.run();
      } catch (err) {
        verdict = fail((err as Error).message, check.hint);
      }
      const result: CheckResult = { category: category.name, description: check.description, ...verdict };
      results.push(result);
      observe(result);
      if (check.fatal && verdict.outcome === 'error') break;
    }
  }
  return results;
}

/** Prints results as they come, in Linkerd's table format; `end()` prints the summary line. */
export function tablePrinter(write: (text: string) => void): { observe: (r: CheckResult) => void; end: (results: CheckResult[]) => void } {
  let last: string | undefined;
  return {
    observe(r) {
      if (r.category !== last) {
        if (last !== undefined) write('\n');
        write(`${r.category}\n${'-'.repeat(r.category.length)}\n`);
        last = r.category;
      }
      write(`${MARK[r.outcome]} ${r.description}${r.detail ? ` (${r.detail})` : ''}\n`);
      if (r.outcome !== 'ok') {
        write(`    ${r.error!.replaceAll('\n', '\n    ')}\n`);
        write(`    hint: ${r.hint!.replaceAll('\n', '\n    ')}\n`);
      }
    },
    end(results) {
      write(`\nStatus check results are ${passed(results) ? MARK.ok : MARK.error}\n`);
    },
  };
}

/** Linkerd's `check -o json`: `{ success, categories: [{ categoryName, checks: [...] }] }`. */
export function toJson(results: CheckResult[]): string {
  const categories: Array<{ categoryName: string; checks: object[] }> = [];
  for (const r of results) {
    if (categories.at(-1)?.categoryName !== r.category) categories.push({ categoryName: r.category, checks: [] });
    categories.at(-1)!.checks.push({
      description: r.description,
      result: r.outcome === 'ok' ? 'success' : r.outcome,
      ...(r.detail ? { detail: r.detail } : {}),
      ...(r.error ? { error: r.error, hint: r.hint } : {}),
    });
  }
  return JSON.stringify({ success: passed(results), categories }, null, 2);
}

/** Warnings do not fail a check run; an error does. */
export function passed(results: CheckResult[]): boolean {
  return results.every((r) => r.outcome !== 'error');
}

/**
 * Runs `first`, then (when none of its checks failed) the categories `then` builds from what
 * `first` found; prints them as `output` asks; resolves to the exit code (1 on any ×).
 */
export async function report(
  output: 'table' | 'json',
  first: Category[],
  then: () => Category[] | Promise<Category[]> = () => [],
  write = (t: string) => void process.stdout.write(t),
): Promise<number> {
  const table = tablePrinter(write);
  const observe = output === 'table' ? table.observe : () => {};
  const results = await runChecks(first, observe);
  if (passed(results)) results.push(...await runChecks(await then(), observe));
  if (output === 'table') table.end(results);
  else write(`${toJson(results)}\n`);
  return passed(results) ? 0 : 1;
}
