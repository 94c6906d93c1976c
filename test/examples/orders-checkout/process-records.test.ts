// The runner's process records on a real folder: what it writes it reads back; a file that is not
// a record (numbers that as a signal's target would reach the runner's own group, init or every
// process; a half-written file) is reported as damaged, never returned; and a record that cannot
// be written is a warning, not a crash of the runner that keeps its pods running.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessRecords, type ProcessRecord } from '../../../examples/orders-checkout/runner/process-records.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const stateDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'records-'));
  dirs.push(d);
  return d;
};
const runner = { pid: 4000, started: 'boot@100' };
const record = (pid: number): ProcessRecord => ({ pid, pgid: pid, started: 'boot@200', pod: 'checkout-0', container: 'checkout-0-proxy', runner });

describe('process records', () => {
  it('reads back what it wrote, and forgets what it removed', () => {
    const records = new ProcessRecords(stateDir());
    expect(records.read()).toEqual({ records: [], damaged: [] });
    records.add(record(4242));
    records.add(record(4243));
    expect(records.read().records.sort((a, b) => a.pid - b.pid)).toEqual([record(4242), record(4243)]);
    records.remove(4242);
    expect(records.read().records).toEqual([record(4243)]);
  });

  it('reports every file that is not a record, with what is wrong, and returns none of them', () => {
    const state = stateDir();
    const dir = join(state, 'processes');
    mkdirSync(dir);
    const bad: Record<string, unknown> = {
      '0.json': { ...record(0) },
      '1.json': { ...record(1) },
      '-1.json': { ...record(-1) },
      '77.json': { ...record(77), pgid: 1 },
      '78.json': { ...record(78), pid: 79, pgid: 79 },
      '80.json': { ...record(80), pid: '80' },
      '81.json': { ...record(81), runner: { pid: -1 } },
      '82.json': { ...record(82), pod: undefined },
    };
    for (const [name, value] of Object.entries(bad)) writeFileSync(join(dir, name), JSON.stringify(value));
    writeFileSync(join(dir, '83.json'), '{"pid": 83, "pg');
    const { records, damaged } = new ProcessRecords(state).read();
    expect(records).toEqual([]);
    const problem = (name: string) => damaged.find((d) => d.file === join(dir, name))?.problem;
    expect(problem('0.json')).toBe('pid 0 is not a process of its own (an integer above 1)');
    expect(problem('1.json')).toBe('pid 1 is not a process of its own (an integer above 1)');
    expect(problem('-1.json')).toBe('pid -1 is not a process of its own (an integer above 1)');
    expect(problem('77.json')).toBe('pgid 1 is not its pid 77');
    expect(problem('78.json')).toBe('pid 79 is not the one its file is named after');
    expect(problem('80.json')).toBe('pid "80" is not a process of its own (an integer above 1)');
    expect(problem('81.json')).toMatch(/^runner \{"pid":-1\} is not a process/);
    expect(problem('82.json')).toBe('pod and container must be names');
    expect(problem('83.json')).toMatch(/JSON/);
    expect(damaged).toHaveLength(9);
  });

  it('warns, and does not throw, when a record cannot be written', () => {
    const state = stateDir();
    // A file where the folder should be: no record can go in (as root, where modes do not stop writes).
    writeFileSync(join(state, 'processes'), 'not a folder');
    const warnings: string[] = [];
    const records = new ProcessRecords(state, (line) => warnings.push(line));
    expect(() => records.add(record(4242))).not.toThrow();
    expect(warnings[0]).toMatch(/^could not record checkout-0-proxy \(pid 4242\) in .*processes \(.*\): if this runner is killed, the next start cannot stop it$/);
    expect(readdirSync(state)).toEqual(['processes']);
  });
});
