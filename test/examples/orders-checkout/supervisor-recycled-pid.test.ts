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
 * A process of nobody's demo, leading a group of its own, with exactly `pid` (the kernel hands out
 * the PID after `ns_last_pid`), or undefined when another process of the machine forked first and
 * took it. That one may keep it for as long as it runs (a thread of a busy test worker), so the
 * caller tries again with another exited container, not with the same PID.
 */
function spawnWithPid(pid: number): ChildProcess | undefined {
  writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  others.push(child);
  if (child.pid === pid) return child;
  child.kill('SIGKILL');
  return undefined;
}

describe('stopping every container', () => {
  it('leaves alone the group of a process that took the PID of a container that had exited', async () => {
    const supervisor = new Supervisor(root, dir, () => {}, { initialMs: 600_000, maxMs: 600_000, resetAfterMs: 600_000 });
    supervisor.keepRunning();
    let other: ChildProcess | undefined;
    for (let attempt = 0; !other; attempt++) {
      if (attempt === 100) throw new Error(`100 exited containers in a row had their PID taken by another process first`);
      const exited = new Promise<Started>((resolve) =>
        supervisor.onEvent((e) => e.kind === 'restart-scheduled' && e.process.spec.name === `crasher-${attempt}` && resolve(e.process)),
      );
      const crashed = supervisor.start({ name: `crasher-${attempt}`, role: 'app', command: ['node', '-e', 'process.exit(3)'], env: {}, listens: [] });
      expect(await exited).toBe(crashed); // waiting out its back-off: ten minutes
      other = spawnWithPid(crashed.child.pid!);
    }
    const otherId = identify(other.pid!)!;

    await supervisor.stopAll(2000);
    expect(isSameProcess(otherId)).toBe(true);
  }, 120_000);
});
