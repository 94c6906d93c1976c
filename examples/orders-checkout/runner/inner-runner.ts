// Starts the runner again inside a network namespace (`nsenter`, `ip netns exec`) and waits for it,
// passing Ctrl-C and SIGTERM on: the --netns and --kubernetes modes both run the demo that way.
import { spawn } from 'node:child_process';
import { codedError } from '../../../api/errors.ts';

/** The runner inside could not be started (its launcher missing, say); the message names the command. */
export class InnerRunnerError extends codedError('INNER_RUNNER') {}

/**
 * Runs `file args` on this terminal with `env`, and resolves to its exit code (1 when a signal
 * ended it). A launcher that cannot be started rejects with InnerRunnerError naming it and `hint`
 * (what provides it): the child then emits 'error', which, with no listener, would crash the
 * runner with a bare stack instead.
 */
export async function runInner(file: string, args: readonly string[], env: NodeJS.ProcessEnv, hint: string): Promise<number> {
  const child = spawn(file, args, { stdio: 'inherit', env });
  // The inner runner stops the demo on SIGINT or SIGTERM; this one passes either on (from a
  // terminal, Ctrl-C reaches both: a second SIGINT is harmless).
  const onInt = () => child.kill('SIGINT');
  const onTerm = () => child.kill('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (err) => reject(new InnerRunnerError(`cannot start the runner inside the namespace: ${file}: ${err.message} (${hint})`, { cause: err })));
      child.on('close', (code) => resolve(code ?? 1));
    });
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
