// Child processes of a benchmark (the app, the proxies): started, awaited until ready, sampled
// for memory, and always stopped, whatever happens to the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../examples/orders-checkout/runner/process-identity.ts';

const REPO = new URL('..', import.meta.url).pathname;

export class BenchProcess {
  readonly proc: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: string[],
    readonly logFile: string,
    env: Record<string, string> = {},
  ) {
    const fd = openSync(logFile, 'a');
    // MESH_BENCH_PROFILE=<dir>: each child writes a V8 CPU profile there when it exits.
    const profile = process.env.MESH_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.MESH_BENCH_PROFILE}`] : [];
    this.proc = spawn(process.execPath, [...profile, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.exited = new Promise((resolve) => this.proc.once('close', (code) => resolve(code)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last lines of the process's log, for error messages. */
  tail(lines = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Polls `url` until it answers 200; fails with the log tail if the process exits or time runs out. */
  async waitFor(url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited (code ${this.proc.exitCode}) before ${url} answered:\n${this.tail()}`);
      const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.body?.cancel().then(() => r.ok) ?? r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name}: ${url} did not answer 200 within ${timeoutMs} ms; log ${this.logFile}:\n${this.tail()}`);
  }

  /** Resolves with the exit code once the process has ended by itself (or been stopped). */
  whenExited(): Promise<number | null> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** `node bin/mesh.js <args>` */
export function meshProcess(name: string, args: string[], logDir: string, env: Record<string, string> = {}): BenchProcess {
  return new BenchProcess(name, ['bin/mesh.js', ...args], join(logDir, `${name}.log`), env);
}

/** `node bin/run.js <file.ts> <args>` */
export function tsProcess(name: string, file: string, args: string[], logDir: string): BenchProcess {
  return new BenchProcess(name, ['bin/run.js', file, ...args], join(logDir, `${name}.log`));
}

/** Resident set size and its high-water mark (kB values of /proc/<pid>/status, as bytes). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const TICKS_PER_SECOND = 100;

/** CPU seconds (utime + stime) a process has used so far; 0 once it has exited. */
export function cpuSecondsOf(pid: number): number {
  try {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** A process to watch: one of ours, or one another program started (the demo's proxies). */
export interface Watched {
  name: string;
  pid: number;
}


/** Polls the RSS of some processes while a run lasts, keeping each one's peak. */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly processes: Watched[], intervalMs = 200) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  private sample(): void {
    for (const p of this.processes) {
      if (!processAlive(p.pid)) continue;
      try {
        const { rss } = memoryOf(p.pid);
        this.peaks.set(p.name, Math.max(this.peaks.get(p.name) ?? 0, rss));
      } catch {
        // exited between the check and the read
      }
    }
  }

  /** Stops sampling; per process: the peak RSS polled, and the kernel's high-water mark (VmHWM). */
  stop(): Record<string, { peakRssBytes: number; vmHwmBytes: number }> {
    clearInterval(this.timer);
    this.sample();
    const out: Record<string, { peakRssBytes: number; vmHwmBytes: number }> = {};
    for (const p of this.processes) {
      let hwm = NaN;
      try {
        hwm = memoryOf(p.pid).hwm;
      } catch {
        // gone
      }
      out[p.name] = { peakRssBytes: this.peaks.get(p.name) ?? NaN, vmHwmBytes: hwm };
    }
    return out;
  }
}
