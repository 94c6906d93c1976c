// What a runner that was killed (SIGKILL, a crash) left running: its pods' process groups, found
// in its records (process-records.ts) and stopped before this runner binds anything, the way a
// kubelet that comes back reconciles the containers it finds. Only a group whose leader is still
// the recorded process (same PID, same start time) is signalled: a PID that now names another
// process is left alone. Nothing is ever looked up or stopped by name.
import { identify, isSameProcess, processAlive } from './process-identity.ts';
import { ProcessRecords, stillRunning, type ProcessRecord } from './process-records.ts';
import { acquireLock, alreadyRunning } from './state.ts';

/** How long a leftover group has between SIGTERM and SIGKILL: a runner's own stop allows as much. */
const LEFTOVER_GRACE_MS = 5000;

/**
 * A runner's first step with its state folder, before it binds anything: the lock (refused while
 * another runner lives), then what a runner that did not stop left running. The records are where
 * this runner's own processes go (Supervisor).
 */
export async function takeOverStateFolder(stateDir: string, say: (line: string) => void): Promise<{ records: ProcessRecords; releaseLock: () => void }> {
  const releaseLock = acquireLock(stateDir);
  const records = new ProcessRecords(stateDir, (line) => say(`note: ${line}`));
  try {
    // The lock said no runner lives; the records must agree (a lock file removed by hand says nothing).
    const alive = records.read().records.find((r) => r.runner.pid !== process.pid && isSameProcess(r.runner));
    if (alive) throw alreadyRunning(alive.runner.pid, stateDir);
    await stopLeftovers(records, { graceMs: LEFTOVER_GRACE_MS, say });
  } catch (err) {
    releaseLock();
    throw err;
  }
  return { records, releaseLock };
}

/**
 * Stops every recorded process group still running, and says of each record what became of it:
 * stopped (SIGTERM, then SIGKILL after the grace period); stuck after SIGKILL (its record kept for
 * the next start); or left alone, its PID now another process's (or perhaps, with no start time
 * recorded). Forgets every record but the stuck ones'.
 */
async function stopLeftovers(records: ProcessRecords, o: { graceMs: number; say: (line: string) => void }): Promise<void> {
  const { records: found, damaged } = records.read();
  for (const d of damaged) {
    o.say(`note: ignored a damaged process record ${d.file} (${d.problem}); nothing was stopped for it`);
    records.discard(d.file);
  }
  const running = found.filter(stillRunning);
  const leftAlone = found.filter((r) => !running.includes(r) && identify(r.pid) !== undefined);
  if (running.length > 0) {
    const runners = [...new Set(running.map((r) => r.runner.pid))].join(', ');
    o.say(`a previous runner (process ${runners}) ended without stopping its pods; stopping what it left running:`);
  }
  // All at once: with their runner gone there is no order to keep (no pod is being served anyway).
  for (const r of running) signalIfOurs(r, 'SIGTERM');
  await until(() => running.every((r) => !isSameProcess(r)), Date.now() + o.graceMs);
  for (const r of running) signalIfOurs(r, 'SIGKILL');
  // A killed process is gone once the kernel has run its exit: a moment, unless it is stuck in I/O.
  await until(() => running.every((r) => !isSameProcess(r)), Date.now() + 2000);

  const stuck = running.filter((r) => isSameProcess(r));
  const stopped = running.filter((r) => !stuck.includes(r));
  for (const r of stopped) o.say(`  stopped ${describe(r)}`);
  for (const r of stuck) o.say(`  still running after SIGKILL: ${describe(r)}; its record is kept for the next start`);
  for (const r of leftAlone) {
    o.say(r.started === undefined
      ? `  left alone: ${describe(r)}: that PID runs, but with no start time recorded it may be another process now; check it (ps -p ${r.pid}) and stop it yourself if it is ours`
      : `  left alone: ${describe(r)}: that PID is another process now`);
  }
  // Gone, stopped or someone else's now: nothing left to do for any record but the stuck ones'.
  for (const r of found) if (!stuck.includes(r)) records.remove(r.pid);
}

/**
 * SIGTERM or SIGKILL to a recorded group, only while it is still the one the runner started: its
 * leader is the recorded process, or the leader has exited (SIGTERM) and no process has its PID,
 * in which case `-pgid` reaches only what is left of that group (a PID is not handed out again
 * while a group of that number has members).
 */
function signalIfOurs(r: ProcessRecord, signal: NodeJS.Signals): void {
  if (!stillRunning(r) && (signal !== 'SIGKILL' || processAlive(r.pid))) return;
  try {
    process.kill(-r.pgid, signal);
  } catch {
    // The group is gone already.
  }
}

const describe = (r: ProcessRecord) => `${r.container} of pod ${r.pod} (pid ${r.pid})`;

async function until(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
