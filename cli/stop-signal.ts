// What a `mesh ... serve` command waits for before it shuts down: the first SIGINT or SIGTERM.

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Resolves with the first SIGINT or SIGTERM; a second signal then gets Node's default (exit). */
export function stopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    const stop = (signal: StopSignal) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
