// A runner killed with SIGKILL leaves its pods running (each in a process group of its own); the
// next start stops them, by their recorded PID and start time, before it binds anything. With real
// processes: the runner's pod handling (fixtures/pod-runner.ts: the state folder's lock and
// records, the kubelet, the supervisor) started in a child, apps on fixed ports in this file's
// own loopback block, so a survivor really holds the address the next start needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../helpers/address-block.ts';
import { identify, isSameProcess, type ProcessIdentity } from '../../../examples/orders-checkout/runner/process-identity.ts';
import { readRun } from '../../../examples/orders-checkout/runner/state.ts';

const root = join(import.meta.dirname, '../../..');
const NET = await addressBlock();
const fixture = join(import.meta.dirname, 'fixtures/pod-runner.ts');
const temp: string[] = [];
/** Every process a test saw, so that none outlives the file whatever fails. */
const seen: ProcessIdentity[] = [];

afterAll(() => {
  for (const p of seen) {
    if (!isSameProcess(p)) continue;
    // Pods and the unrelated process lead groups of their own; a runner does not.
    try { process.kill(-p.pid, 'SIGKILL'); } catch { process.kill(p.pid, 'SIGKILL'); }
  }
  for (const d of temp) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'leftovers-'));
  temp.push(d);
  return d;
}

interface Runner {
  child: ChildProcess;
  output(): string;
  /** Resolves with each pod's app PID once the runner says every pod is Ready. */
  up(): Promise<Record<string, number>>;
  /** Its exit code, once its output has been read to the end. */
  closed: Promise<number | null>;
}

function startRunner(state: string, addresses: string[]): Runner {
  const child = spawn(process.execPath, ['bin/run.js', fixture, state, ...addresses], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  seen.push(identify(child.pid!)!);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    closed,
    async up() {
      const deadline = Date.now() + 60_000;
      let line: string | undefined;
      while (!(line = /^up (.*)$/m.exec(output)?.[1])) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the runner did not come up:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const pids = Object.fromEntries(line.split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)]));
      for (const pid of Object.values(pids)) seen.push(identify(pid)!);
      return pids;
    },
  };
}

/** What the app on this address answers: the PID of the process that holds it. */
async function holder(address: string): Promise<number> {
  const res = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(10_000) });
  return Number(await res.text());
}

const records = (state: string) => readdirSync(join(state, 'processes')).filter((n) => n.endsWith('.json'));
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('pods of a runner that was killed', () => {
  it('outlive it, and the next start stops them (SIGTERM to each group) before it binds, then starts its own', async () => {
    const state = stateDir();
    const addresses = [`${NET}.1:8080`, `${NET}.2:8080`];
    const first = startRunner(state, addresses);
    const old = await first.up();
    expect(records(state)).toHaveLength(2);

    first.child.kill('SIGKILL');
    await first.closed;
    // Nobody stopped them: each still runs and still holds its address.
    for (const [i, address] of addresses.entries()) expect(await holder(address)).toBe(old[`web-${i}`]);
    // `mesh pods` and every command reading pods.json say so.
    writeFileSync(join(state, 'pods.json'), JSON.stringify({ runnerPid: first.child.pid, pods: [] }));
    expect(() => readRun(state)).toThrow(`is no longer running, but 2 of the processes it started still run; npm start stops them, then starts afresh`);

    const second = startRunner(state, addresses);
    const now = await second.up();
    expect(second.output()).toContain(`a previous runner (process ${first.child.pid}) ended without stopping its pods; stopping what it left running:`);
    for (const [name, pid] of Object.entries(old)) {
      expect(second.output()).toContain(`stopped ${name} of pod ${name} (pid ${pid})`);
      expect(identify(pid)).toBeUndefined();
    }
    // The new pods hold the addresses now, and only the new runner's records are left.
    for (const [i, address] of addresses.entries()) expect(await holder(address)).toBe(now[`web-${i}`]);
    expect(records(state).sort()).toEqual(Object.values(now).map((pid) => `${pid}.json`).sort());

    second.child.kill('SIGTERM');
    expect(await second.closed).toBe(0);
    expect(records(state)).toEqual([]);
    expect(existsSync(join(state, 'demo.pid'))).toBe(false);
  }, 180_000);

  it('leaves alone a record whose PID now names another process, forgets one whose process is gone, and ignores a damaged one', async () => {
    const state = stateDir();
    mkdirSync(join(state, 'processes'), { recursive: true });
    // Another process that happens to have a recorded PID: the record's start time is not its own.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
    const otherId = identify(other.pid!)!;
    seen.push(otherId);
    const record = (pid: number, started: string) => JSON.stringify({ pid, pgid: pid, started, pod: 'web-0', container: 'web-0', runner: { pid: 999_999, started: `${bootId()}@1` } });
    writeFileSync(join(state, 'processes', `${other.pid}.json`), record(other.pid!, `${bootId()}@1`));
    // A process that has exited since: its PID names nothing now.
    const gone = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const goneId = identify(gone.pid!)!;
    gone.kill('SIGKILL');
    await new Promise((r) => gone.on('close', r));
    writeFileSync(join(state, 'processes', `${gone.pid}.json`), record(gone.pid!, goneId.started!));
    // PID 1 as a group would be init's, and -1 every process: such a record is never acted on.
    writeFileSync(join(state, 'processes', '1.json'), record(1, `${bootId()}@1`));

    const runner = startRunner(state, [`${NET}.3:8080`]);
    const now = await runner.up();
    expect(runner.output()).toContain(`left alone: web-0 of pod web-0 (pid ${other.pid}): that PID is another process now`);
    expect(runner.output()).toContain(`ignored a damaged process record ${join(state, 'processes', '1.json')} (pid 1 is not a process of its own`);
    expect(runner.output()).not.toMatch(/^\s+stopped /m);
    expect(isSameProcess(otherId)).toBe(true);
    expect(records(state)).toEqual([`${now['web-0']}.json`]);

    runner.child.kill('SIGTERM');
    expect(await runner.closed).toBe(0);
    expect(isSameProcess(otherId)).toBe(true);
    other.kill('SIGKILL');
  }, 180_000);
});

describe('a second runner', () => {
  /** A runner on `${NET}.host`, then a second on the same state folder (after `meanwhile`): refused, naming the first, none of its pods touched. */
  async function refusedWhileFirstLives(host: number, meanwhile: (state: string) => void = () => {}): Promise<void> {
    const state = stateDir();
    const address = `${NET}.${host}:8080`;
    const first = startRunner(state, [address]);
    const pods = await first.up();
    meanwhile(state);

    const second = startRunner(state, [address]);
    expect(await second.closed).toBe(1);
    expect(second.output()).toContain(`the demo is already running (process ${first.child.pid}, state folder ${state})`);
    expect(second.output()).toContain(`kill ${first.child.pid}`);
    expect(await holder(address)).toBe(pods['web-0']);
    expect(records(state)).toEqual([`${pods['web-0']}.json`]);

    first.child.kill('SIGTERM');
    expect(await first.closed).toBe(0);
  }

  it('is refused while the first one lives, naming it, and touches none of its pods', () => refusedWhileFirstLives(4), 180_000);

  it('is refused while the first one lives even when the lock file was removed by hand: the records name their runner', () =>
    refusedWhileFirstLives(6, (state) => rmSync(join(state, 'demo.pid'))), 180_000);

  /** A runner on `${NET}.host` whose state folder holds a lock reading `lock`: it takes the lock over, naming itself, and starts. */
  async function takesOverLock(host: number, lock: string): Promise<void> {
    const state = stateDir();
    writeFileSync(join(state, 'demo.pid'), lock);
    const runner = startRunner(state, [`${NET}.${host}:8080`]);
    await runner.up();
    expect(readFileSync(join(state, 'demo.pid'), 'utf8')).toBe(`${runner.child.pid}\n${identify(runner.child.pid!)!.started}\n`);
    runner.child.kill('SIGTERM');
    expect(await runner.closed).toBe(0);
  }

  // This test's own process, alive, but not the process the lock was written by.
  it('takes over a lock whose PID now names another process', () => takesOverLock(5, `${process.pid}\n${bootId()}@1\n`), 180_000);

  it('takes over a lock that names no process (edited by hand, or damaged)', () => takesOverLock(7, 'not a pid\n'), 180_000);
});
