// Reads V8's `--trace-gc --trace-parallel-scavenge` output: how many tasks (the main thread, and
// V8's helper threads when scavenges run in parallel) took part in each scavenge.

/** Node flags that make a process write the trace this file reads. */
export const SCAVENGE_TRACE = ['--trace-gc', '--trace-parallel-scavenge'];
/** A task's line (`scavenge[0x...]: time=...`) and a finished scavenge's line (`Scavenge 12.5 (15.1) -> ...`). */
const TASK = /scavenge\[0x[0-9a-f]+\]/;
const DONE = /: Scavenge /;

/** For each scavenge in `trace`, how many tasks took part in it. */
export function tasksPerScavenge(trace: string): number[] {
  const counts: number[] = [];
  let tasks = 0;
  for (const line of trace.split('\n')) {
    if (TASK.test(line)) tasks++;
    else if (DONE.test(line)) {
      counts.push(tasks);
      tasks = 0;
    }
  }
  return counts;
}
