// Starts the demo's processes, each in its own process group with its output in a log file;
// once the demo is up, restarts any that exits, after the kubelet's back-off (restartPolicy:
// Always); and stops every one of them (children included) when asked: no orphans, no ports left bound.
// Each running group is recorded in the state folder (process-records.ts), so that what a killed
// runner could not stop, the next one can (leftovers.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessSpec } from './topology.ts';
import { KUBERNETES_BACKOFF, RestartBackoff, type BackoffSettings } from './backoff.ts';
import { identify } from './process-identity.ts';
import type { ProcessRecords } from './process-records.ts';

/** One process the runner keeps running: a container, in Kubernetes's words. */
export interface Started {
  spec: ProcessSpec;
  /** The pod it is a container of (its own name for the control plane's processes). */
  pod: string;
  /** The current child; a new one after each restart. */
  child: ChildProcess;
  logFile: string;
  /** Set while the current child is not running (exited, or waiting out its back-off). */
  exited?: { code: number | null; signal: NodeJS.Signals | null };
  /** How many times it was restarted (kubectl's RESTARTS). */
  restarts: number;
  /** When the current child started (ms since the epoch). */
  startedAtMs: number;
  /** When the waiting child will be started again, while in back-off. */
  restartAtMs?: number;
  /** How the previous child ended (kubectl's "Last State"). */
  lastExit?: { code: number | null; signal: NodeJS.Signals | null };
}

interface Entry extends Started {
  backoff: RestartBackoff;
  timer?: NodeJS.Timeout;
  /** Stopped on purpose (pod deleted, demo stopping): never restarted. */
  removed: boolean;
}

export type SupervisorEvent = { kind: 'exited' | 'started' | 'restart-scheduled'; process: Started };

export class Supervisor {
  private readonly entries: Entry[] = [];
  /** This runner, as its records name it. */
  private readonly runner = identify(process.pid)!;
  private stopping = false;
  private restarting = false;
  private readonly listeners = new Set<(e: SupervisorEvent) => void>();

  constructor(
    private readonly root: string,
    private readonly logsDir: string,
    /** Told of an exit while starting up (before keepRunning): the start then fails. */
    private readonly onExit: (s: Started) => void,
    private readonly backoff: BackoffSettings = KUBERNETES_BACKOFF,
    /** Where each running group is recorded until it ends; none, and a killed runner's pods are nobody's to stop. */
    private readonly records?: ProcessRecords,
  ) {}

  start(spec: ProcessSpec, pod = spec.name): Started {
    const entry: Entry = { spec, pod, child: undefined as unknown as ChildProcess, logFile: join(this.logsDir, `${spec.name}.log`), restarts: 0, startedAtMs: 0, backoff: new RestartBackoff(this.backoff), removed: false };
    this.spawnChild(entry);
    this.entries.push(entry);
    return entry;
  }

  /** From now on a process that exits is restarted after its back-off, as the kubelet does. */
  keepRunning(): void {
    this.restarting = true;
  }

  onEvent(listener: (e: SupervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get processes(): readonly Started[] {
    return this.entries;
  }

  /** Kills the current child to have it restarted (a failed liveness or startup probe). */
  restart(s: Started, graceMs = 5000): void {
    const entry = s as Entry;
    if (entry.exited || entry.removed) return;
    void this.terminate(entry, graceMs);
  }

  /** Stops one process for good (its pod is going away): SIGTERM, SIGKILL after `graceMs`. */
  async remove(s: Started, graceMs = 5000): Promise<void> {
    const entry = s as Entry;
    entry.removed = true;
    clearTimeout(entry.timer);
    await this.terminate(entry, graceMs);
    this.entries.splice(this.entries.indexOf(entry), 1);
  }

  /** SIGTERM to every group, newest first (apps before proxies before control plane); SIGKILL after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    for (const e of this.entries) clearTimeout(e.timer);
    const running = [...this.entries].reverse().filter((s) => !s.exited && s.child.pid);
    for (const s of running) signalGroup(s.child.pid!, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (running.some((s) => !s.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Only the groups still running: one that exited was killed whole as it ended (`end`), and its
    // PID, free since, may lead another process's group by now (a container waiting out its back-off).
    for (const s of running) if (!s.exited) signalGroup(s.child.pid!, 'SIGKILL');
    // Give the kernel a moment to reap and release ports of anything killed just now.
    while (running.some((s) => !s.exited) && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 20));
  }

  private async terminate(entry: Entry, graceMs: number): Promise<void> {
    const child = entry.child;
    if (entry.exited || !child.pid) return;
    const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    // Whatever the process group still holds goes with it.
    signalGroup(child.pid, 'SIGKILL');
  }

  private spawnChild(entry: Entry): void {
    const { spec } = entry;
    const out = openSync(entry.logFile, 'a');
    const [cmd, ...args] = spec.command;
    const child = spawn(cmd === 'node' ? process.execPath : cmd!, args, {
      cwd: this.root,
      env: { ...inheritedEnv(), ...spec.env },
      stdio: ['ignore', out, out],
      // Its own process group, so stop() reaches whatever it spawns and Ctrl-C in the terminal
      // reaches only the runner, which then stops everything in order.
      detached: true,
    });
    closeSync(out);
    // Recorded at once, in the same tick as the spawn, while the child cannot have been reaped yet.
    const identity = child.pid ? identify(child.pid) : undefined;
    if (identity) this.records?.add({ ...identity, pgid: identity.pid, pod: entry.pod, container: spec.name, runner: this.runner });
    entry.child = child;
    entry.exited = undefined;
    entry.restartAtMs = undefined;
    entry.startedAtMs = Date.now();
    let ended = false;
    const end = (exited: { code: number | null; signal: NodeJS.Signals | null }, note?: string) => {
      if (ended) return;
      ended = true;
      entry.exited = exited;
      entry.lastExit = exited;
      // Take the rest of its group with it: a process's children do not outlive it.
      if (child.pid) {
        signalGroup(child.pid, 'SIGKILL');
        this.records?.remove(child.pid);
      }
      if (this.stopping || entry.removed) return;
      this.emit({ kind: 'exited', process: entry });
      if (!this.restarting) {
        this.onExit(note ? { ...entry, logFile: `${entry.logFile} (${note})` } : entry);
        return;
      }
      const delay = entry.backoff.delayAfter(Date.now() - entry.startedAtMs);
      entry.restartAtMs = Date.now() + delay;
      this.emit({ kind: 'restart-scheduled', process: entry });
      entry.timer = setTimeout(() => {
        if (this.stopping || entry.removed) return;
        entry.restarts++;
        this.spawnChild(entry);
      }, delay);
    };
    child.on('close', (code, signal) => end({ code, signal }));
    child.on('error', (err) => end({ code: -1, signal: null }, `spawn failed: ${err.message}`));
    if (this.entries.includes(entry)) this.emit({ kind: 'started', process: entry });
  }

  private emit(e: SupervisorEvent): void {
    for (const l of this.listeners) l(e);
  }
}

/** The runner's environment minus any proxy settings of the user's shell: a pod's traffic goes
 * to its own sidecar (set in its spec) or straight out, never to the user's HTTP proxy. */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'GRPC_PROXY', 'NO_GRPC_PROXY']) {
    delete env[name];
    delete env[name.toLowerCase()];
  }
  return env;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
