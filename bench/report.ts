// Prints benchmark tables and keeps bench/results.json (one entry per mode, the latest run).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { LoadResult } from './load.ts';

export const RESULTS_FILE = new URL('./results.json', import.meta.url).pathname;

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: Array<string | number>) =>
    r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(3);
}

export const LOAD_HEADERS = ['run', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'requests', 'errors', 'non-2xx'];

export function loadRow(r: LoadResult): Array<string | number> {
  return [r.title, Math.round(r.rps), r.p50, r.p90, r.p99, r.max, r.requests, r.errors, r.non2xx];
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** A figure against the bar the issue sets, for the closing summary. */
export interface Bar {
  what: string;
  value: number;
  unit: string;
  bar: string;
  met: boolean;
}

export function barLines(bars: Bar[]): string {
  return table(
    ['check', 'measured', 'bar', ''],
    bars.map((b) => [b.what, `${formatNumber(b.value)} ${b.unit}`.trim(), b.bar, b.met ? 'ok' : 'MISSED']),
  );
}

export function machineNote(): string {
  const c = cpus();
  return `${c.length} CPU(s) (${c[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}: the load generator, the app and each proxy run in their own processes but share these cores (other work on the machine skews the figures)`;
}

/** Replaces this mode's entry in bench/results.json, keeping the other modes' latest results. */
export function saveResults(mode: string, results: unknown): void {
  let all: Record<string, unknown> = {};
  if (existsSync(RESULTS_FILE)) {
    try {
      all = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>;
    } catch {
      all = {}; // a damaged file is replaced rather than blocking the run
    }
  }
  all[mode] = { at: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model.trim(), node: process.version, loadAverage1mAtEnd: loadavg()[0] }, ...(results as object) };
  // Raw latency samples are for merging runs, not for the file.
  const kept = JSON.parse(JSON.stringify(all, (key, value: unknown) => (key === 'samples' ? undefined : value))) as unknown;
  writeFileSync(RESULTS_FILE, compactJson(kept) + '\n');
}

/**
 * JSON indented as JSON.stringify(v, null, 2) would, except that an object or array holding no
 * other object or array stays on one line: a soak's thousands of samples are a line each, not
 * six, so the file (tracked in git) reads and diffs by sample.
 */
export function compactJson(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const entries = Array.isArray(value) ? value.map((v) => [undefined, v] as const) : Object.entries(value);
  if (entries.every(([, v]) => v === null || typeof v !== 'object')) return JSON.stringify(value);
  const inner = indent + '  ';
  const lines = entries.map(([k, v]) => `${inner}${k === undefined ? '' : `${JSON.stringify(k)}: `}${compactJson(v, inner)}`);
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  return `${open}\n${lines.join(',\n')}\n${indent}${close}`;
}
