// gRPC's message framing over an HTTP/2 stream (the proxy's client's and its tap server's): each message is a 5-byte prefix (a compressed
// flag, then a 32-bit big-endian length) and the message's bytes; a DATA frame may hold part of
// a message or several.
import { codedError } from '../../api/errors.ts';

/** The length prefix before each message. */
export const PREFIX_BYTES = 5;

/** Several messages, each with its length prefix, in one buffer: one write, one DATA frame. */
export function frameMessages(messages: readonly Buffer[]): Buffer {
  let size = 0;
  for (const m of messages) size += PREFIX_BYTES + m.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const m of messages) {
    out[at] = 0; // not compressed
    out.writeUInt32BE(m.length, at + 1);
    m.copy(out, at + PREFIX_BYTES);
    at += PREFIX_BYTES + m.length;
  }
  return out;
}

/** Why a stream's bytes are not gRPC messages this reader takes. */
export class FramingError extends codedError('GRPC_FRAMING') {}

/**
 * Cuts a stream's DATA into whole messages. `push` takes each chunk as it arrives and returns the
 * messages it completed; a part of a message waits for the next chunk. Messages over `maxBytes`
 * and compressed ones (neither side of the mesh asks for compression) are refused with a
 * FramingError, whose message names the two ends as `sender` and `receiver` say.
 */
export class MessageReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly sender = 'the server',
    private readonly receiver = 'this client',
  ) {}

  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Buffer[] = [];
    while (this.pendingBytes >= PREFIX_BYTES) {
      const head = this.pending.length === 1 ? this.pending[0]! : this.join();
      if (head[0] !== 0) throw new FramingError(`${this.sender}'s message is compressed; ${this.receiver} accepts identity encoding only`);
      const length = head.readUInt32BE(1);
      if (length > this.maxBytes) throw new FramingError(`${this.sender} sent a message of ${length} bytes, over ${this.receiver}'s limit of ${this.maxBytes}`);
      if (this.pendingBytes < PREFIX_BYTES + length) break;
      out.push(head.subarray(PREFIX_BYTES, PREFIX_BYTES + length));
      const rest = head.subarray(PREFIX_BYTES + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    return out;
  }

  /** Whether a message was cut short (the stream ended inside one). */
  get partial(): boolean {
    return this.pendingBytes > 0;
  }

  private join(): Buffer {
    const whole = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [whole];
    return whole;
  }
}
