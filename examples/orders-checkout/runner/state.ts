// The runner's state folder (.mesh-state/ by default): the CA material, the pods' tokens, the
// logs, the lock that keeps a second copy out, and pods.json, which `mesh pods` reads.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../../api/errors.ts';

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

/** Whether a process with this PID exists (one owned by another user counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock, or explains who holds it. A lock left by a dead runner is taken over. */
export function acquireLock(stateDir: string): () => void {
  mkdirSync(logsDir(stateDir), { recursive: true });
  const file = lockFile(stateDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
        throw new StateError('ALREADY_RUNNING', `the demo is already running (process ${holder}, state folder ${stateDir}).\n` +
          `  Use that one (mesh pods lists it), or stop it with Ctrl-C in its terminal or: kill ${holder}`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new StateError('ALREADY_RUNNING', `could not take the lock ${file}; is another demo starting right now?`);
}

/** Rewritten whenever a pod's status changes: written then renamed, so a reader never sees half. */
export function writeRun(stateDir: string, run: RunRecord): void {
  const tmp = `${runFile(stateDir)}.tmp`;
  writeFileSync(tmp, JSON.stringify(run, null, 2) + '\n');
  renameSync(tmp, runFile(stateDir));
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
  } catch (err) {
    throw new StateError('CORRUPT_STATE', `${file} is damaged (${(err as Error).message}). Restart the demo (npm start) to rewrite it.`, { cause: err });
  }
  if (!processAlive(run.runnerPid)) {
    throw new StateError('NOT_RUNNING', `the demo that wrote ${file} (process ${run.runnerPid}) is no longer running. Start it with: npm start`);
  }
  return run;
}
