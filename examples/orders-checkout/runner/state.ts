// The runner's state folder (.mesh-state/ by default): the CA material, the pods' tokens, the
// logs, the lock that keeps a second copy out, and pods.json, which `mesh pods` reads.
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../../api/errors.ts';
import { writeAtomically } from './atomic-file.ts';
import { identify, isSameProcess, type ProcessIdentity } from './process-identity.ts';
import { ProcessRecords, stillRunning } from './process-records.ts';

export class StateError extends CodedError<'ALREADY_RUNNING' | 'NOT_RUNNING' | 'CORRUPT_STATE'> {}

export interface PodRecord {
  name: string;
  namespace: string;
  workload: string;
  ip: string;
  serviceAccount: string;
  identity: string | null;
  meshed: boolean;
  /** The proxy's admin URL (/ready, /metrics); null for pods without a sidecar. */
  adminUrl: string | null;
  appPorts: number[];
  role: 'ingress' | 'workload';
  /** The kubelet's view, kept current while the demo runs (absent in files from older runners). */
  status?: PodStatusRecord;
}

/** A pod's status as the kubelet (the runner) sees it: what kubectl's READY, STATUS, RESTARTS and AGE show. */
export interface PodStatusRecord {
  ready: boolean;
  createdAt: string;
  containers: ContainerStatusRecord[];
}

export interface ContainerStatusRecord {
  name: string;
  ready: boolean;
  restarts: number;
  /** running, or waiting (between an exit and its restart: CrashLoopBackOff). */
  state: 'running' | 'waiting';
  startedAt: string;
  pid: number;
  lastExit?: { code: number | null; signal: string | null };
}

export interface RunRecord {
  runnerPid: number;
  /**
   * When the runner started (process-identity.ts: `<boot id>@<ticks>`), so a reader tells the runner
   * from a later process the kernel gave its PID; absent without /proc, and in files of older runners.
   */
  runnerStarted?: string;
  startedAt: string;
  ingressUrl: string;
  stateDir: string;
  pods: PodRecord[];
  /** Where the control plane listens and what it trusts, so `mesh` commands find it (cli/find-demo.ts). */
  controlPlane?: ControlPlaneRecord;
  /** Every process the runner started, for debugging and for checking that a stop left none. */
  processes: Array<{ name: string; pid: number; log: string; role?: 'control-plane' | 'ingress' | 'app' | 'sidecar'; restarts?: number }>;
  /** The control plane's processes as pods of mesh-system (identity, destination, ...), with their status. */
  controlPlanePods?: Array<{ name: string; namespace: string; address: string; status: PodStatusRecord }>;
  /** The runner's control socket (`mesh rollout restart` talks to it). */
  controlSocket?: string;
}

export interface ControlPlaneRecord {
  identityAddr: string;
  destinationAddr: string;
  /** The viz API's address (`mesh viz ...` finds it here). */
  vizAddr?: string;
  /** The dashboard's address, served by the viz (`mesh viz dashboard` finds it here). */
  dashboardAddr?: string;
  /** Absolute path of the trust anchors' PEM file. */
  trustAnchorsFile: string;
  /** Absolute path of the folder of resources the destination watches. */
  resourcesDir: string;
}

export function defaultStateDir(root: string): string {
  return process.env.MESH_STATE_DIR || join(root, '.mesh-state');
}

export const logsDir = (stateDir: string) => join(stateDir, 'logs');
const lockFile = (stateDir: string) => join(stateDir, 'demo.pid');
const runFile = (stateDir: string) => join(stateDir, 'pods.json');

/**
 * Takes the lock, or explains who holds it. The lock names the runner by PID and start time
 * (process-identity.ts): a lock whose runner is gone, or whose PID now names another process, is
 * taken over; the new runner then stops what the old one left running (leftovers.ts).
 */
export function acquireLock(stateDir: string): () => void {
  mkdirSync(logsDir(stateDir), { recursive: true });
  const file = lockFile(stateDir);
  const me = identify(process.pid)!;
  // Written whole beside the lock and linked into place: link() fails when the lock exists, and
  // no reader ever sees a lock half written (which it would take for a dead runner's).
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${me.pid}\n${me.started ?? ''}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, file);
        return () => rmSync(file, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = readLockHolder(file);
        if (holder && isSameProcess(holder)) throw alreadyRunning(holder.pid, stateDir);
        rmSync(file, { force: true });
      }
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  throw new StateError('ALREADY_RUNNING', `could not take the lock ${file}; is another demo starting right now?`);
}

/** What a second runner is told: which process runs the demo, and how to stop it. */
export function alreadyRunning(pid: number, stateDir: string): StateError {
  return new StateError('ALREADY_RUNNING', `the demo is already running (process ${pid}, state folder ${stateDir}).\n` +
    `  Use that one (mesh pods lists it), or stop it with Ctrl-C in its terminal or: kill ${pid}`);
}

/** The runner a lock names: its PID on the first line, its start time on the second (a lock from an older runner has the PID alone). */
function readLockHolder(file: string): ProcessIdentity | undefined {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    return undefined; // removed in the meantime
  }
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return lines[1] ? { pid, started: lines[1] } : { pid };
}

/** Rewritten whenever a pod's status changes, whole (atomic-file.ts): `mesh pods` never reads half. */
export function writeRun(stateDir: string, run: RunRecord): void {
  writeAtomically(runFile(stateDir), JSON.stringify(run, null, 2) + '\n');
}

export function clearRun(stateDir: string): void {
  rmSync(runFile(stateDir), { force: true });
}

/** What the running demo published; a precise error when nothing runs or the file is damaged. */
export function readRun(stateDir: string): RunRecord {
  const file = runFile(stateDir);
  if (!existsSync(file)) {
    throw new StateError('NOT_RUNNING', `no demo is running (no ${file}). Start it with: npm start`);
  }
  let run: RunRecord;
  try {
    run = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
    if (!Array.isArray(run.pods) || typeof run.runnerPid !== 'number') throw new Error('missing pods or runnerPid');
    if (run.runnerStarted !== undefined && typeof run.runnerStarted !== 'string') throw new Error('runnerStarted is not a string');
  } catch (err) {
    throw new StateError('CORRUPT_STATE', `${file} is damaged (${(err as Error).message}). Restart the demo (npm start) to rewrite it.`, { cause: err });
  }
  // The same process, not just a live PID: after a crash or a reboot, the PID may name another.
  if (!isSameProcess({ pid: run.runnerPid, started: run.runnerStarted })) {
    // Killed before it could stop its pods: they still run, and the next start stops them (leftovers.ts).
    const left = new ProcessRecords(stateDir).read().records.filter(stillRunning).length;
    const pods = left > 0 ? `, but ${left} of the processes it started still run; npm start stops them, then starts afresh` : '. Start it with: npm start';
    throw new StateError('NOT_RUNNING', `the demo that wrote ${file} (process ${run.runnerPid}) is no longer running${pods}`);
  }
  return run;
}
