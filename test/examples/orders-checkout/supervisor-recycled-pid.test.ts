// The supervisor signals only process groups it started and that still run: a container that
// exited long ago (waiting out its back-off) left a PID the kernel may have handed to another
// process since, and stopping the demo must not reach that one. With real processes, the PID
// really recycled (the kernel's next PID set by hand: root, as the network-namespace tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { identify, isSameProcess } from '../../../examples/orders-checkout/runner/process-identity.ts';
import { Supervisor, type Started } from '../../../examples/orders-checkout/runner/supervisor.ts';

const dir = mkdtempSync(join(tmpdir(), 'supervisor-pid-'));
const root = join(import.meta.dirname, '../../..');
const others: ChildProcess[] = [];
afterAll(() => {
  for (const o of others) o.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A process of nobody's demo, leading a group of its own, with exactly `pid`: the kernel hands out
 * the PID after `ns_last_pid`. Other processes of the machine may take it first: tried again then.
 */
function spawnWithPid(pid: number): ChildProcess {
  for (let attempt = 0; attempt < 100; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
    others.push(child);
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
  }
  throw new Error(`could not start a process with pid ${pid}: the machine kept taking it first`);
}

describe('stopping every container', () => {
  it('leaves alone the group of a process that took the PID of a container that had exited', async () => {
    const supervisor = new Supervisor(root, dir, () => {}, { initialMs: 600_000, maxMs: 600_000, resetAfterMs: 600_000 });
    supervisor.keepRunning();
    const exited = new Promise<Started>((resolve) => supervisor.onEvent((e) => e.kind === 'restart-scheduled' && resolve(e.process)));
    const crashed = supervisor.start({ name: 'crasher', role: 'app', command: ['node', '-e', 'process.exit(3)'], env: {}, listens: [] });
    expect(await exited).toBe(crashed); // waiting out its back-off: ten minutes
    const other = spawnWithPid(crashed.child.pid!);
    const otherId = identify(other.pid!)!;

    await supervisor.stopAll(2000);
    expect(isSameProcess(otherId)).toBe(true);
  }, 60_000);
});
