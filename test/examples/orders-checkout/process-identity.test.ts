// Who a PID is: real processes, read from /proc. A process keeps its identity whatever it calls
// itself (a name with spaces and parentheses, which /proc/PID/stat does not escape); an exited
// process, or a recorded start time that is not its own, is not the recorded process; one whose
// main thread has exited while another still runs (and holds its sockets) is still there.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
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

  it('is still there while a thread of it runs after its main thread ended, holding its listening port', async () => {
    // The main thread ends (pthread_exit) and shows as a zombie, Z; its other thread, and the
    // port the process listens on, live on: what a process whose threads are still winding down
    // after SIGTERM looks like for a moment, made to last here.
    const script = [
      'import ctypes, socket, sys, threading, time',
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()",
      'threading.Thread(target=lambda: time.sleep(600), daemon=True).start()',
      'print(s.getsockname()[1], flush=True)',
      'ctypes.CDLL(None).pthread_exit(None)',
    ].join('\n');
    const child = spawn('python3', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await new Promise<Buffer>((r) => child.stdout!.once('data', r)));
      const before = identify(child.pid!)!;
      expect(before).toBeDefined();
      for (let i = 0; readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z'; i++) {
        if (i > 200) throw new Error('the main thread did not end');
        await new Promise((r) => setTimeout(r, 50));
      }
      // Its port still takes connections: the process is not gone.
      const probe = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => probe.once('connect', resolve).once('error', reject));
      probe.destroy();
      expect(identify(child.pid!)).toEqual(before);
      expect(isSameProcess(before)).toBe(true);
      expect(processGroupOf(child.pid!)).toBe(child.pid);

      const ended = new Promise((r) => child.on('close', r));
      process.kill(-child.pid!, 'SIGKILL');
      await ended;
      expect(identify(child.pid!)).toBeUndefined();
      expect(isSameProcess(before)).toBe(false);
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
  });
});
