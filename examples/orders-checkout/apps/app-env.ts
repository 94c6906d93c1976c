// What every demo app reads from its environment: where to listen, who it is, and its logger.
import pino, { type Logger } from 'pino';
import { pathToFileURL } from 'node:url';

// The demo apps stand for any workload: they import nothing of the mesh (no CodedError), and
// their errors still carry a stable `code`.
export class AppConfigError extends Error {
  readonly code = 'APP_CONFIG';
}

/** A number from the environment, with a message naming the variable when it is not one. */
export function numberFromEnv(name: string, fallback: number, range: { min: number; max: number }): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < range.min || value > range.max) {
    throw new AppConfigError(`${name}=${JSON.stringify(raw)}: expected a number from ${range.min} to ${range.max}`);
  }
  return value;
}

/** A port to listen on from the environment (0: any free port). */
export function portFromEnv(name: string, fallback: number): number {
  return numberFromEnv(name, fallback, { min: 0, max: 65535 });
}

export interface AppEnv {
  /** The pod's address: the app listens here, as a container listens on its pod IP. */
  podIp: string;
  podName: string;
  log: Logger;
}

export function appEnv(app: string): AppEnv {
  const podIp = process.env.POD_IP || '127.0.0.1';
  const podName = process.env.POD_NAME || app;
  const log = pino({ base: { app, pod: podName }, level: process.env.LOG_LEVEL || 'info' });
  return { podIp, podName, log };
}

/**
 * An app's entry point: when `moduleUrl` is the file `node bin/run.js <file>` was asked to run,
 * runs `main` with the app's environment, a startup failure becoming one readable line and exit code 1.
 */
export function runMain(moduleUrl: string, app: string, main: (env: AppEnv) => Promise<unknown>): void {
  if (!isMain(moduleUrl)) return;
  main(appEnv(app)).catch((err: unknown) => {
    console.error(`${app}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

/** Reads a JSON request body up to `limit` bytes; demo bodies are tiny, so a cap keeps it safe. */
export async function readJsonBody(stream: AsyncIterable<Buffer | string>, limit = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) throw new BadRequest(`body larger than ${limit} bytes`);
    chunks.push(buf);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('body is not valid JSON');
  }
}

export class BadRequest extends Error {
  readonly code = 'BAD_REQUEST';
}

/** True when this module is the file `node bin/run.js <file>` was asked to run. */
function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}
