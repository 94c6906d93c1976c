// Structured logs for the proxy and control plane: pino JSON lines, level from the environment.
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type Level = (typeof LEVELS)[number];

export interface LoggerOptions {
  /** Overrides the environment (`MESH_LOG_LEVEL`, then `LOG_LEVEL`, else `info`). */
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
  /** Fields stamped on every line of this logger, e.g. `{ pod: '127.0.10.3' }`. */
  fields?: Record<string, string | number | boolean>;
  /** Environment to read the level from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
}

function isLevel(value: string): value is Level {
  return (LEVELS as readonly string[]).includes(value);
}

/** The level asked for, and the complaint to log when the asked-for value is not a level. */
function chooseLevel(opts: LoggerOptions): { level: Level; invalid?: { source: string; value: string } } {
  const env = opts.env ?? process.env;
  const candidates: Array<[string, string | undefined]> = [
    ['option level', opts.level],
    ['MESH_LOG_LEVEL', env.MESH_LOG_LEVEL],
    ['LOG_LEVEL', env.LOG_LEVEL],
  ];
  for (const [source, raw] of candidates) {
    if (raw === undefined || raw.trim() === '') continue;
    const value = raw.trim().toLowerCase();
    // A typo in the level must not silence the proxy or stop it: fall back to info and say so.
    return isLevel(value) ? { level: value } : { level: 'info', invalid: { source, value: raw } };
  }
  return { level: 'info' };
}

/**
 * A logger for one component (`proxy`, `outbound`, `admin`, `identity`...). Lines carry `time`
 * (ISO 8601), `level` as a word, `name` (the component) and `pid`; callers add `err`, `request`,
 * `peer` and the like per line. Make one per proxy instance (not a module global) when the
 * component runs several times in one process.
 */
export function createLogger(name: string, opts: LoggerOptions = {}): Logger {
  const { level, invalid } = chooseLevel(opts);
  const logger = pino(
    {
      name,
      level,
      base: { pid: process.pid, ...opts.fields },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level as a word so an operator can grep `"level":"error"` without a lookup table.
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination,
  );
  if (invalid) {
    logger.warn(
      { source: invalid.source, value: invalid.value, allowed: LEVELS.join(',') },
      `${invalid.source}="${invalid.value}" is not a log level; logging at info`,
    );
  }
  return logger;
}
