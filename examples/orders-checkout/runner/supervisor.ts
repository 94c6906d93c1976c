// Starts the demo's processes, each in its own process group with its output in a log file,
// and stops every one of them (children included) when asked: no orphans, no ports left bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessSpec } from './topology.ts';

export interface Started {
  spec: ProcessSpec;
  child: ChildProcess;
  logFile: string;
  exited?: { code: number | null; signal: NodeJS.Signals | null };
}

export class Supervisor {
  private readonly started: Started[] = [];
  private stopping = false;

  constructor(private readonly root: string, private readonly logsDir: string, private readonly onExit: (s: Started) => void) {}

  start(spec: ProcessSpec): Started {
    const logFile = join(this.logsDir, `${spec.name}.log`);
    const out = openSync(logFile, 'a');
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
    const entry: Started = { spec, child, logFile };
    child.on('close', (code, signal) => {
      entry.exited = { code, signal };
      if (!this.stopping) this.onExit(entry);
    });
    child.on('error', (err) => {
      entry.exited = { code: -1, signal: null };
      if (!this.stopping) this.onExit({ ...entry, exited: { code: -1, signal: null }, logFile: `${logFile} (spawn failed: ${err.message})` });
    });
    this.started.push(entry);
    return entry;
  }

  get processes(): readonly Started[] {
    return this.started;
  }

  /** SIGTERM to every group, newest first (apps before proxies before control plane); SIGKILL after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const running = [...this.started].reverse().filter((s) => !s.exited && s.child.pid);
    for (const s of running) signalGroup(s.child.pid!, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (running.some((s) => !s.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.started) if (s.child.pid) signalGroup(s.child.pid, 'SIGKILL');
    // Give the kernel a moment to reap and release ports of anything killed just now.
    while (running.some((s) => !s.exited) && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 20));
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
