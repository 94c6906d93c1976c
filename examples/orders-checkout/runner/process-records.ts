// The runner's record of every process group it has started and not yet seen end
// (STATE/processes/<pid>.json), written as it starts one and removed when it ends. A runner
// killed with SIGKILL cannot stop its pods; the next one finds them here (leftovers.ts).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomically } from './atomic-file.ts';
import { isSameProcess, processGroupOf, type ProcessIdentity } from './process-identity.ts';

/** One process group the runner started: a container of a pod. */
export interface ProcessRecord extends ProcessIdentity {
  /** Its process group: the runner starts each process as the leader of a group of its own. */
  pgid: number;
  /** The pod it belongs to, and its name as a container (`checkout-0-proxy`). */
  pod: string;
  container: string;
  /** The runner that started it: while that one still runs, its processes are nobody else's to stop. */
  runner: ProcessIdentity;
}

/**
 * Whether a recorded group still runs as the runner started it: its leader is the recorded process
 * (same PID, same start time) and still leads it. A record without a start time (a platform with
 * no /proc) cannot tell a recycled PID from its own, so it never counts.
 */
export function stillRunning(r: ProcessRecord): boolean {
  return r.started !== undefined && isSameProcess(r) && processGroupOf(r.pid) === r.pgid;
}

/** A record file that could not be read as a record: reported, never acted on. */
export interface DamagedRecord {
  file: string;
  problem: string;
}

export class ProcessRecords {
  readonly dir: string;

  /**
   * `warn` hears of a record that could not be written or removed (a full disk, a folder made
   * read-only): the processes run on regardless, since the records only matter after a crash.
   */
  constructor(stateDir: string, private readonly warn: (line: string) => void = () => {}) {
    this.dir = join(stateDir, 'processes');
  }

  add(record: ProcessRecord): void {
    try {
      writeAtomically(this.fileOf(record.pid), JSON.stringify(record) + '\n');
    } catch (err) {
      this.warn(`could not record ${record.container} (pid ${record.pid}) in ${this.dir} (${(err as Error).message}): if this runner is killed, the next start cannot stop it`);
    }
  }

  remove(pid: number): void {
    try {
      rmSync(this.fileOf(pid), { force: true });
    } catch (err) {
      this.warn(`could not remove ${this.fileOf(pid)} (${(err as Error).message}): the next start will find its process gone and forget it`);
    }
  }

  /** Every record present, and the files that are not records (a half-written or edited file). */
  read(): { records: ProcessRecord[]; damaged: DamagedRecord[] } {
    if (!existsSync(this.dir)) return { records: [], damaged: [] };
    const records: ProcessRecord[] = [];
    const damaged: DamagedRecord[] = [];
    for (const name of readdirSync(this.dir).filter((n) => n.endsWith('.json'))) {
      const file = join(this.dir, name);
      try {
        records.push(parseRecord(readFileSync(file, 'utf8'), Number(name.slice(0, -'.json'.length))));
      } catch (err) {
        damaged.push({ file, problem: (err as Error).message });
      }
    }
    return { records, damaged };
  }

  /** Forgets a file that read() found damaged. */
  discard(file: string): void {
    rmSync(file, { force: true });
  }

  private fileOf(pid: number): string {
    return join(this.dir, `${pid}.json`);
  }
}

/**
 * A record as written by add(), checked field by field: these numbers become signals, and a
 * PID of 0, 1 or a negative number would reach the runner's own group, init, or every process.
 */
function parseRecord(text: string, pidOfName: number): ProcessRecord {
  const r = JSON.parse(text) as Partial<ProcessRecord>;
  const pid = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 1;
  if (!pid(r.pid)) throw new Error(`pid ${JSON.stringify(r.pid)} is not a process of its own (an integer above 1)`);
  if (r.pid !== pidOfName) throw new Error(`pid ${r.pid} is not the one its file is named after`);
  // Only ever its own group's leader: anything else would signal a group the runner never made.
  if (r.pgid !== r.pid) throw new Error(`pgid ${JSON.stringify(r.pgid)} is not its pid ${r.pid}`);
  if (typeof r.pod !== 'string' || typeof r.container !== 'string') throw new Error('pod and container must be names');
  const started = (v: unknown) => v === undefined || typeof v === 'string';
  if (!started(r.started)) throw new Error('started must be a string');
  if (!pid(r.runner?.pid) || !started(r.runner?.started)) throw new Error(`runner ${JSON.stringify(r.runner)} is not a process (pid and started)`);
  return { pid: r.pid!, started: r.started, pgid: r.pgid!, pod: r.pod, container: r.container, runner: { pid: r.runner!.pid, started: r.runner!.started } };
}
