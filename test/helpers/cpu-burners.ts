// Keeps every core busy for a bounded time (one spinning process per core), so a test can show
// that something works on a loaded machine, where child processes and timers run late.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

export interface Burners {
  /** Stops every burner now (each also stops by itself when its time is up). */
  stop(): Promise<void>;
}

/** One busy-looping process per core, each ending by itself after `maxMs` even if nobody stops it. */
export function burnCpus(maxMs: number, count = availableParallelism()): Burners {
  const loop = `const end = Date.now() + ${Math.floor(maxMs)}; let x = 0; while (Date.now() < end) x = (x + 1) % 1e9;`;
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) children.push(spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
  return {
    async stop() {
      await Promise.all(children.map((c) => new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('close', () => resolve());
        c.kill('SIGKILL');
      })));
    },
  };
}
