// What every benchmark mode provides, so a new mode is one new file listed in bench/index.ts.

export interface BenchContext {
  /** Folder for this run's process logs and generated files. */
  logDir: string;
  /** Seconds per measured run. */
  durationSeconds: number;
  /** Connections of the saturating runs. */
  connections: number;
  /** Requests per second of the fixed-rate runs. */
  rate: number;
  /** Node arguments that run `mesh proxy`: `bin/mesh.js proxy` (tsx), or a bundle (`--proxy-build bundle`). */
  proxyCommand: string[];
  /** `--proxy-env`: environment variables for this build's proxies (mode http1; a baseline keeps the default). */
  proxyEnv: Record<string, string>;
  /** `--baseline-proxy`: Node arguments that run another build's `mesh proxy`, to compare against. */
  baselineProxyCommand?: string[];
  /** Registers a cleanup that runs however the bench ends (Ctrl-C included). */
  onCleanup(fn: () => Promise<void>): void;
  log(line: string): void;
}

export interface BenchMode {
  name: string;
  summary: string;
  /** For a mode that needs what a machine may lack (a tool): `true`, or what is missing. Absent: it always runs. */
  available?(): Promise<true | string>;
  /** Runs, prints its tables through ctx.log, and returns what goes into bench/results.json. */
  run(ctx: BenchContext): Promise<unknown>;
}
