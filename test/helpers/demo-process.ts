// `npm start` as a learner runs it, for the tests of the whole demo: in a process group of its own
// (a terminal's Ctrl-C signals the whole group; a test does the same with process.kill(-pid)), its
// output collected, and waited for until it says the mesh is up.
import { spawn, type ChildProcess } from 'node:child_process';

export interface DemoProcess {
  child: ChildProcess;
  /** Everything it has printed so far, stdout and stderr in the order they came. */
  output(): string;
  /** Resolves once it says the mesh is up; throws with its output if it exits first or `timeoutMs` passes. */
  up(timeoutMs: number): Promise<void>;
}

/** `npm start --silent ARGS` in `cwd` (ARGS after a `--` reach `mesh demo`). The caller stops it. */
export function spawnDemo(args: string[], o: { cwd: string; env: NodeJS.ProcessEnv }): DemoProcess {
  const child = spawn('npm', ['start', '--silent', ...args], { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let closed = false;
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  child.once('close', () => (closed = true));
  return {
    child,
    output: () => output,
    async up(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes('The mesh is up.')) {
        if (closed || Date.now() > deadline) throw new Error(`the demo (npm start ${args.join(' ')}) did not come up:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  };
}
