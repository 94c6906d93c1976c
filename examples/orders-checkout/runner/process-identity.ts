// Which process a PID names: the PID with the moment the process started, so that a PID the
// kernel has since handed to another process is never taken for the one the runner recorded.
import { existsSync, readFileSync } from 'node:fs';

/** Linux has /proc; macOS does not, and there only whether a PID is alive can be asked. */
const HAS_PROC = existsSync('/proc/self/stat');

/** A process as the runner records it; `started` tells this process from a later one with the same PID. */
export interface ProcessIdentity {
  pid: number;
  /**
   * The boot's id and the process's start time in clock ticks after boot (/proc/PID/stat's
   * `starttime`), as `<boot id>@<ticks>`. Absent where there is no /proc (macOS): then only
   * whether the PID is alive can be asked, which a recycled PID also answers yes.
   */
  started?: string;
}

/** What /proc/PID/stat says about a process that exists. */
interface ProcStat {
  /** R, S, D, ... and Z for a zombie: its main thread has exited (see `exited`). */
  state: string;
  /** Threads still in the process: a zombie's own, and any still running. */
  threads: number;
  processGroup: number;
  started: string;
}

/**
 * Whether the process has exited, with nothing of it left but its PID. A zombie main thread is not
 * enough: it shows Z as soon as it ends, while the process's other threads (a Node process has
 * several) may still be running or winding down, holding its files and sockets; a listening port
 * is free only once the last of them is gone.
 */
function exited(stat: ProcStat): boolean {
  return stat.state === 'Z' && stat.threads <= 1;
}

/** The identity of a live process, or undefined when there is none with this PID (an exited one, a zombie, counts as none). */
export function identify(pid: number): ProcessIdentity | undefined {
  if (!HAS_PROC) return processAlive(pid) ? { pid } : undefined;
  const stat = readStat(pid);
  return stat && !exited(stat) ? { pid, started: stat.started } : undefined;
}

/** Whether the process recorded as `id` still runs: the same PID and the same start time. */
export function isSameProcess(id: ProcessIdentity): boolean {
  if (!HAS_PROC || id.started === undefined) return processAlive(id.pid);
  const stat = readStat(id.pid);
  return stat !== undefined && !exited(stat) && stat.started === id.started;
}

/** The process group a live process is in now (undefined when it is gone or the platform has no /proc). */
export function processGroupOf(pid: number): number | undefined {
  const stat = HAS_PROC ? readStat(pid) : undefined;
  return stat && !exited(stat) ? stat.processGroup : undefined;
}

/** Whether any process has this PID, whoever it is (one owned by another user counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  let bootId: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
  // "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses, so fields are counted
  // after its last ')'. There, index 0 is field 3 (state), 2 is field 5 (pgrp), 17 is field 20
  // (num_threads), 19 is field 22 (starttime).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, threads: Number(fields[17]), processGroup: Number(fields[2]), started: `${bootId}@${fields[19]}` };
}
