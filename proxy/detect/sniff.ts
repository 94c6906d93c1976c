// Protocol detection: read the first bytes of a connection, name the protocol, put the bytes back.
import type { Socket } from 'node:net';
import { ProxyError } from '../errors.ts';

export type DetectedProtocol =
  /** The HTTP/2 connection preface (h2c with prior knowledge, gRPC). */
  | 'h2'
  /** An HTTP/1 request line: a method token followed by a space. */
  | 'http1'
  /** A TLS record header carrying a handshake (a ClientHello). */
  | 'tls'
  /** The mesh's opaque transport header, `L5D-OPAQUE <port>\r\n` (plaintext proxy-to-proxy). */
  | 'opaque-transport'
  /** Anything else, or nothing before the detect timeout. */
  | 'opaque';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const OPAQUE_PREFIX = Buffer.from('L5D-OPAQUE ', 'latin1');
/** Longest method token we wait for before calling the bytes opaque (`OPTIONS`, `PROPFIND`...). */
const MAX_METHOD = 20;

/**
 * Decide from `head` alone, or return undefined when more bytes are needed.
 * Exported for unit tests; `detect` is what the listeners call.
 */
export function classify(head: Buffer): DetectedProtocol | undefined {
  if (head.length === 0) return undefined;
  if (head[0] === 0x16) return head.length >= 2 ? (head[1] === 0x03 ? 'tls' : 'opaque') : undefined;
  const preface = startsWithPrefix(head, H2_PREFACE);
  if (preface === 'yes') return 'h2';
  const opaque = startsWithPrefix(head, OPAQUE_PREFIX);
  if (opaque === 'yes') return 'opaque-transport';
  if (preface === 'maybe' || opaque === 'maybe') return undefined;
  // An HTTP/1 request line: a token of upper-case letters (or `-`), then a space. Anything that
  // starts like that goes to the HTTP/1 parser, which answers a malformed rest with a 400.
  for (let i = 0; i < head.length && i <= MAX_METHOD; i++) {
    const c = head[i]!;
    if (c === 0x20) return i > 0 ? 'http1' : 'opaque';
    const tokenChar = (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f;
    if (!tokenChar) return 'opaque';
  }
  return head.length > MAX_METHOD ? 'opaque' : undefined;
}

function startsWithPrefix(head: Buffer, prefix: Buffer): 'yes' | 'no' | 'maybe' {
  const n = Math.min(head.length, prefix.length);
  if (head.compare(prefix, 0, n, 0, n) !== 0) return 'no';
  return n === prefix.length ? 'yes' : 'maybe';
}

export interface Detection {
  protocol: DetectedProtocol;
  /** True when the detect timeout fired before the peer sent enough bytes. */
  timedOut: boolean;
}

/**
 * Read from `socket` until the protocol is known or `timeoutMs` passes, then unshift what was
 * read so the next owner (an HTTP server, a TLS wrapper, a tunnel) sees the stream untouched.
 * Rejects when the peer closes before sending anything useful.
 */
export function detect(socket: Socket, timeoutMs: number): Promise<Detection> {
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const finish = (result: Detection | Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      socket.off('close', onEnd);
      if (result instanceof Error) return reject(result);
      socket.pause();
      if (head.length > 0) socket.unshift(head);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const protocol = classify(head);
      if (protocol) finish({ protocol, timedOut: false });
    };
    const onEnd = (err?: Error) =>
      finish(new ProxyError('BAD_REQUEST', `connection closed after ${head.length} bytes, before its protocol was known`, { cause: err }));
    const timer = setTimeout(() => finish({ protocol: 'opaque', timedOut: true }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
    socket.once('close', onEnd);
    // A socket paused by its previous owner (an HTTP server after CONNECT) must flow again.
    socket.resume();
  });
}
