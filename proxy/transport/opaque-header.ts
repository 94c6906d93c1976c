// The opaque transport header: a raw tunnel to another proxy's inbound port starts with the
// ASCII line `L5D-OPAQUE <port>\r\n`, naming the port of the workload the bytes are for.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CodedError } from '../../api/errors.ts';

const PREFIX = Buffer.from('L5D-OPAQUE ', 'latin1');
/** `L5D-OPAQUE 65535\r\n`: nothing longer is a valid header, so reading stops there. */
export const OPAQUE_HEADER_MAX = PREFIX.length + 5 + 2;

export type OpaqueHeaderErrorCode = 'OPAQUE_HEADER_INVALID' | 'OPAQUE_HEADER_TIMEOUT' | 'OPAQUE_HEADER_CLOSED';

export class OpaqueHeaderError extends CodedError<OpaqueHeaderErrorCode> {
  override readonly name = 'OpaqueHeaderError';
}

export function opaqueHeader(port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`opaque header: port ${port} is not 1-65535`);
  return Buffer.from(`L5D-OPAQUE ${port}\r\n`, 'latin1');
}

export function writeOpaqueHeader(socket: Duplex, port: number): void {
  socket.write(opaqueHeader(port));
}

/**
 * Checks what has arrived so far: the port once a whole valid line is there, 'more' while a
 * valid prefix, or an error message naming what is wrong.
 */
export function parseOpaqueHeader(buf: Buffer): { port: number; length: number } | 'more' | string {
  const head = Math.min(buf.length, PREFIX.length);
  for (let i = 0; i < head; i++) {
    if (buf[i] !== PREFIX[i]) return `expected "L5D-OPAQUE <port>\\r\\n", got ${JSON.stringify(buf.subarray(0, Math.min(buf.length, 24)).toString('latin1'))}`;
  }
  if (buf.length <= PREFIX.length) return 'more';
  let i = PREFIX.length;
  while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
  const digits = buf.subarray(PREFIX.length, i).toString('latin1');
  if (digits.length > 5) return `port "${digits}..." has more than 5 digits`;
  if (i === buf.length) return 'more';
  if (buf[i] !== 0x0d) return `port must be digits only and end with \\r\\n, got byte 0x${buf[i]!.toString(16).padStart(2, '0')} after "${digits}"`;
  if (digits.length === 0) return 'port is missing';
  if (i + 1 === buf.length) return 'more';
  if (buf[i + 1] !== 0x0a) return 'a bare \\r ends the line; expected \\r\\n';
  if (digits.length > 1 && digits[0] === '0') return `port "${digits}" has a leading zero`;
  const port = Number(digits);
  if (port < 1 || port > 65535) return `port ${digits} is not 1-65535`;
  return { port, length: i + 2 };
}

/**
 * Reads the header from a socket that has just been accepted. Resolves with the port and the
 * bytes that arrived after the header (the tunnel's first bytes, which the caller must forward
 * first); the socket is left paused. Rejects with an OpaqueHeaderError; the socket is not destroyed.
 */
export function readOpaqueHeader(socket: Socket | Duplex, timeoutMs: number): Promise<{ port: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err: OpaqueHeaderError | null, value?: { port: number; rest: Buffer }): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const parsed = parseOpaqueHeader(buf.length > OPAQUE_HEADER_MAX ? buf.subarray(0, OPAQUE_HEADER_MAX) : buf);
      if (parsed === 'more') {
        if (buf.length >= OPAQUE_HEADER_MAX) finish(invalid(`no \\r\\n within ${OPAQUE_HEADER_MAX} bytes`));
        return;
      }
      if (typeof parsed === 'string') return finish(invalid(parsed));
      finish(null, { port: parsed.port, rest: buf.subarray(parsed.length) });
    };
    const onEnd = (): void =>
      finish(new OpaqueHeaderError('OPAQUE_HEADER_CLOSED', `opaque header: connection closed after ${buf.length} bytes, before a complete header`));
    const onError = (err: Error): void =>
      finish(new OpaqueHeaderError('OPAQUE_HEADER_CLOSED', `opaque header: connection failed: ${err.message}`));
    const timer = setTimeout(
      () => finish(new OpaqueHeaderError('OPAQUE_HEADER_TIMEOUT', `opaque header: none complete within ${timeoutMs} ms (${buf.length} bytes read)`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

function invalid(why: string): OpaqueHeaderError {
  return new OpaqueHeaderError('OPAQUE_HEADER_INVALID', `opaque header: ${why}`);
}
