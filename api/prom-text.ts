// Reads the Prometheus text exposition format (version 0.0.4, what every proxy serves on
// `:4191/metrics`) into metric families and samples: for tests, the bench, the demo's load
// report and scrapers. Written here rather than taken from a package: the one on npm that
// parses this format has no types and folds histograms into objects, and the format is small.
import { CodedError } from './errors.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  /** `+Inf`, `-Inf` and `NaN` are read as the numbers they name. */
  value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  timestamp?: number;
}

/** One `# TYPE` block: a histogram's `_bucket`, `_sum` and `_count` samples belong to its family. */
export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

export class PromTextError extends CodedError<'BAD_EXPOSITION'> {
  override readonly name = 'PromTextError';
  constructor(line: number, what: string, text: string) {
    super('BAD_EXPOSITION', `metrics text line ${line}: ${what}: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

/** Every sample in the text, in order. Throws `PromTextError` naming the line at the first malformed one. */
export function parsePrometheus(text: string): Sample[] {
  return parseFamilies(text).flatMap((f) => f.samples);
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** The suffixes by which a histogram's or summary's samples name their family. */
const SUFFIXES: Partial<Record<MetricType, string[]>> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

/** The text grouped into families, in order; a sample with no `# TYPE` above it gets an untyped family of its own. */
export function parseFamilies(text: string): Family[] {
  const families: Family[] = [];
  const byName = new Map<string, Family>();
  const familyOf = (name: string): Family => {
    let f = byName.get(name);
    if (!f) byName.set(name, (f = { name, type: 'untyped', help: '', samples: [] })), families.push(f);
    return f;
  };
  let current: Family | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '').trim();
    if (line === '') continue;
    const fail = (what: string): never => {
      throw new PromTextError(i + 1, what, line);
    };
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) continue; // Any other comment is free text.
      const [, keyword, name, rest = ''] = m;
      if (!NAME.test(name!) || NAME.exec(name!)![0] !== name) fail(`bad metric name in # ${keyword}`);
      current = familyOf(name!);
      if (keyword === 'HELP') current.help = unescape(rest, false, fail);
      else if (TYPES.has(rest.trim())) current.type = rest.trim() as MetricType;
      else fail(`unknown metric type ${JSON.stringify(rest.trim())}`);
      continue;
    }
    const sample = parseSample(line, fail);
    const inCurrent = current && (sample.name === current.name || (SUFFIXES[current.type] ?? []).some((s) => sample.name === current!.name + s));
    if (!inCurrent) current = familyOf(sample.name);
    current!.samples.push(sample);
  }
  return families;
}

/** `name{label="value",...} value [timestamp]`. */
function parseSample(line: string, fail: (what: string) => never): Sample {
  const name = NAME.exec(line)?.[0] ?? fail('expected a metric name');
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith('}')) {
      const label = LABEL_NAME.exec(rest)?.[0] ?? fail('expected a label name or "}"');
      rest = rest.slice(label.length).trimStart();
      if (!rest.startsWith('=')) fail(`expected "=" after label ${label}`);
      rest = rest.slice(1).trimStart();
      if (!rest.startsWith('"')) fail(`label ${label}: expected a quoted value`);
      rest = rest.slice(1);
      const end = closingQuote(rest) ?? fail(`label ${label}: value has no closing quote`);
      if (label in labels) fail(`label ${label} appears twice`);
      labels[label] = unescape(rest.slice(0, end), true, fail);
      rest = rest.slice(end + 1).trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith('}')) fail(`expected "," or "}" after label ${label}`);
    }
    rest = rest.slice(1);
  }
  const fields = rest.trim().split(/\s+/);
  if (rest !== '' && !/^\s/.test(rest)) fail('expected a space before the value');
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') fail('expected a value and at most a timestamp');
  const value = parseValue(fields[0]!) ?? fail(`value ${JSON.stringify(fields[0])} is not a number`);
  const sample: Sample = { name, labels, value };
  if (fields[1] !== undefined) {
    if (!/^-?\d+$/.test(fields[1])) fail(`timestamp ${JSON.stringify(fields[1])} is not whole milliseconds`);
    sample.timestamp = Number(fields[1]);
  }
  return sample;
}

function parseValue(s: string): number | undefined {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const n = Number(s);
  return s.trim() === '' || Number.isNaN(n) ? undefined : n;
}

/** Index of the first quote not escaped by a backslash. */
function closingQuote(s: string): number | undefined {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i;
  }
  return undefined;
}

/** Label values escape `\\`, `\"` and `\n`; HELP text escapes `\\` and `\n`. */
function unescape(s: string, quotes: boolean, fail: (what: string) => never): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(.?)/g, (_, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\' || (quotes && c === '"')) return c;
    // HELP text is free prose: an unknown escape stays as written, as Prometheus itself reads it.
    if (!quotes) return `\\${c}`;
    return fail(`unknown escape "\\${c}" in a label value`);
  });
}
