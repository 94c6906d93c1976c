// Finds the running demo as kubectl finds its kubeconfig: a flag, else an environment variable,
// else the nearest `.mesh-state/` above the working directory, else the project's own; then reads
// what the demo published there (pods.json: pods, control-plane addresses, trust anchors).
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { projectRoot } from '../api/locate.ts';
import { CodedError } from '../api/errors.ts';
import { readRun, StateError, type RunRecord } from '../examples/orders-checkout/runner/state.ts';

/** The environment variable naming the state folder; `mesh demo` honours it too. */
export const STATE_ENV = 'MESH_STATE_DIR';

/** Where the viz listens when the demo's record does not say (DESIGN.md's fixed ports). */
export const DEFAULT_VIZ_ADDR = '127.0.0.1:8085';

/** How the state folder was chosen, in kubeconfig's order of precedence. */
export type StateSource = 'flag' | 'env' | 'cwd' | 'project';

export interface StateLocation {
  dir: string;
  source: StateSource;
}

/** Everything a `mesh` command needs to talk to the running demo. */
export interface FoundDemo extends StateLocation {
  run: RunRecord;
  identityAddr: string;
  destinationAddr: string;
  vizAddr: string;
  /** PEM file of the trust anchors every control-plane and proxy certificate chains to. */
  trustAnchorsFile: string;
  /** The folder of resources the destination watches. */
  resourcesDir: string | undefined;
}

export class DemoNotFound extends CodedError<'NOT_RUNNING' | 'CORRUPT_STATE'> {
  override readonly name = 'DemoNotFound';
}

const STATE_FOLDER = '.mesh-state';

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The state folder to use: `--state` (flag), else `$MESH_STATE_DIR`, else the first
 * `.mesh-state/` in the working directory or above it, else the project's `.mesh-state/`
 * (where `npm start` puts it).
 */
export function locateState(opts: { flag?: string; env?: NodeJS.ProcessEnv; cwd?: string; root?: string } = {}): StateLocation {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  if (opts.flag) return { dir: resolve(cwd, opts.flag), source: 'flag' };
  const fromEnv = env[STATE_ENV];
  if (fromEnv) return { dir: resolve(cwd, fromEnv), source: 'env' };
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (isDir(join(dir, STATE_FOLDER))) return { dir: join(dir, STATE_FOLDER), source: 'cwd' };
    if (dirname(dir) === dir) break;
  }
  return { dir: join(opts.root ?? projectRoot, STATE_FOLDER), source: 'project' };
}

const HOW_CHOSEN: Record<StateSource, string> = {
  flag: 'given with --state',
  env: `from $${STATE_ENV}`,
  cwd: 'the nearest .mesh-state/ above the working directory',
  project: `the project's own; none above the working directory, no --state, no $${STATE_ENV}`,
};

/**
 * The running demo in the chosen state folder, or DemoNotFound saying where it looked, why that
 * is not a running demo, and how to start one.
 */
export function findDemo(opts: Parameters<typeof locateState>[0] = {}): FoundDemo {
  const where = locateState(opts);
  let run: RunRecord;
  try {
    run = readRun(where.dir);
  } catch (err) {
    if (!(err instanceof StateError)) throw err;
    const code = err.code === 'CORRUPT_STATE' ? 'CORRUPT_STATE' : 'NOT_RUNNING';
    throw new DemoNotFound(code, `${err.message}\n  (state folder ${HOW_CHOSEN[where.source]}; point at another with --state DIR or $${STATE_ENV})`, { cause: err });
  }
  const cp = run.controlPlane;
  return {
    ...where,
    run,
    // A record written before the addresses were published: DESIGN.md's fixed ones.
    identityAddr: cp?.identityAddr ?? '127.0.0.1:8080',
    destinationAddr: cp?.destinationAddr ?? '127.0.0.1:8086',
    vizAddr: cp?.vizAddr ?? DEFAULT_VIZ_ADDR,
    trustAnchorsFile: cp?.trustAnchorsFile ?? join(where.dir, 'identity', 'ca.crt'),
    resourcesDir: cp?.resourcesDir,
  };
}
