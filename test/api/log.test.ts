// createLogger: JSON lines with the agreed fields, the level from the environment, a bad level survived.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LoggerOptions } from '../../api/log.ts';

function capture(opts: LoggerOptions = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger('outbound', { destination, ...opts }) };
}

describe('createLogger', () => {
  it('writes one JSON object per line with time, level word, name, pid and stamped fields', () => {
    const { lines, logger } = capture({ env: {}, fields: { pod: '127.0.10.3' } });
    logger.error({ request: 'r7', err: new Error('connect ECONNREFUSED') }, 'endpoint refused');
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({ level: 'error', name: 'outbound', pid: process.pid, pod: '127.0.10.3', request: 'r7', msg: 'endpoint refused' });
    expect(new Date(String(line.time)).toISOString()).toBe(line.time);
    expect(line.err).toMatchObject({ type: 'Error', message: 'connect ECONNREFUSED' });
  });

  it('takes the level from MESH_LOG_LEVEL, then LOG_LEVEL, else info', () => {
    expect(capture({ env: { MESH_LOG_LEVEL: 'debug', LOG_LEVEL: 'error' } }).logger.level).toBe('debug');
    expect(capture({ env: { LOG_LEVEL: 'WARN' } }).logger.level).toBe('warn');
    expect(capture({ env: {} }).logger.level).toBe('info');
    expect(capture({ env: { MESH_LOG_LEVEL: 'trace' }, level: 'error' }).logger.level).toBe('error');
    const { lines, logger } = capture({ env: { LOG_LEVEL: 'warn' } });
    logger.info('hidden');
    logger.warn('shown');
    expect(lines.map((l) => l.msg)).toEqual(['shown']);
  });

  it('logs at info and says so when the level is not a level', () => {
    const { lines, logger } = capture({ env: { MESH_LOG_LEVEL: 'verbose' } });
    expect(logger.level).toBe('info');
    expect(lines[0]).toMatchObject({ level: 'warn', source: 'MESH_LOG_LEVEL', value: 'verbose' });
    expect(String(lines[0]!.msg)).toContain('MESH_LOG_LEVEL="verbose" is not a log level');
  });
});
