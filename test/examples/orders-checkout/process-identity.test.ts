// Who a PID is: real processes, read from /proc. A process keeps its identity whatever it calls
// itself (a name with spaces and parentheses, which /proc/PID/stat does not escape); an exited
// process, or a recorded start time that is not its own, is not the recorded process.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identify, isSameProcess, processGroupOf } from '../../../examples/orders-checkout/runner/process-identity.ts';

describe('process identity', () => {
  it('is the PID with its start time, kept across a rename to a name that looks like stat\'s fields', async () => {
    const child = spawn(process.execPath, ['-e', `process.stdin.once('data', () => { process.title = 'a) R 1 2 (b'; console.log('renamed'); }); setInterval(() => {}, 1000)`], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
    const before = identify(child.pid!)!;
    expect(before.started).toMatch(/^[0-9a-f-]{36}@\d+$/);
    expect(processGroupOf(child.pid!)).toBe(child.pid);
    child.stdin!.write('go\n');
    await new Promise((r) => child.stdout!.once('data', r));
    expect(readFileSync(`/proc/${child.pid}/comm`, 'utf8')).toContain('a) R 1 2 (b');
    expect(identify(child.pid!)).toEqual(before);
    expect(processGroupOf(child.pid!)).toBe(child.pid);
    expect(isSameProcess(before)).toBe(true);
    // The same PID with another start time: another process, as a recycled PID would be.
    expect(isSameProcess({ pid: before.pid, started: `${before.started!.split('@')[0]}@1` })).toBe(false);

    const ended = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await ended;
    expect(identify(child.pid!)).toBeUndefined();
    expect(isSameProcess(before)).toBe(false);
    expect(processGroupOf(child.pid!)).toBeUndefined();
  });
});
