// One `Tap.Observe` call on a raw HTTP/2 stream, as gRPC puts it on the wire: the request is one
// length-prefixed message, the response headers, then length-prefixed events, then trailers with
// `grpc-status` and `grpc-message` (or, for a refusal, one trailers-only response).
import type { ServerHttp2Stream } from 'node:http2';
import { Status } from '../grpc/status.ts';
import { MessageReader } from '../grpc/wire.ts';

/** An ObserveRequest is a filter and a few numbers: anything near this size is not one. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** A caller that has not sent its whole request by then is answered, not waited for. */
const REQUEST_WAIT_MS = 10_000;

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-encoding': 'identity', 'grpc-accept-encoding': 'identity' };

/** The request's one message: resolves with its bytes, or rejects with what was wrong with it (INVALID_ARGUMENT). */
export function readRequestMessage(stream: ServerHttp2Stream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const reader = new MessageReader(MAX_REQUEST_BYTES, 'the caller', 'this server');
    const done = (err: Error | undefined, message?: Buffer) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      // Anything more the client sends is not read: drain it, so its flow control does not stall.
      stream.resume();
      if (err) reject(err);
      else resolve(message!);
    };
    // A server-streaming call has exactly one request message; it is taken as soon as it is whole.
    const onData = (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (err) {
        return done(err as Error); // compressed, or larger than any ObserveRequest
      }
      if (messages.length > 0) done(undefined, messages[0]);
    };
    const onEnd = () => done(new Error(reader.partial ? 'the request ended inside its message' : 'the request carried no message'));
    const onClose = () => done(new Error('the stream closed before its request message came'));
    const timer = setTimeout(() => done(new Error(`no whole request message within ${REQUEST_WAIT_MS / 1000} s`)), REQUEST_WAIT_MS);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
  });
}

/** The server's side of one call once its request is read: headers, events, and how it ends. */
export class ObserveCall {
  private trailers: { code: number; message: string } | undefined;
  /** Events written but not yet handed to the HTTP/2 session. */
  private unsent = 0;
  private ended = false;

  constructor(private readonly stream: ServerHttp2Stream) {
    stream.on('wantTrailers', () => {
      const { code, message } = this.trailers ?? { code: Status.OK, message: '' };
      stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeURI(message) });
    });
  }

  /** The caller went away (cancelled, deadline, connection closed) or the call ended. */
  get closed(): boolean {
    return this.stream.closed || this.stream.destroyed;
  }

  /** Events the network has not taken yet: a slow reader's backlog. */
  get backlog(): number {
    return this.unsent;
  }

  /** The response headers, before any event: the caller knows its tap is open. */
  open(): void {
    if (!this.closed && !this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  }

  /** `count` events, already framed together, in one write. */
  write(framed: Buffer, count: number): void {
    if (this.ended || this.closed) return;
    this.unsent += count;
    this.stream.write(framed, () => {
      this.unsent -= count;
    });
  }

  /** Ends the call with `code` (OK by default); before the headers, as one trailers-only response. */
  end(code: number = Status.OK, message = ''): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    if (!this.stream.headersSent) {
      this.stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeURI(message) }, { endStream: true });
      return;
    }
    this.trailers = { code, message };
    this.stream.end();
  }
}

/** The longest delay a Node timer keeps (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A `grpc-timeout` header's value in milliseconds; undefined when absent or malformed, or longer
 * than a timer can wait (then no deadline: gRPC allows up to 99,999,999 hours).
 */
export function grpcTimeoutMs(header: string | string[] | undefined): number | undefined {
  const m = typeof header === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  if (!m) return undefined;
  const unitMs = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H' | 'M' | 'S' | 'm' | 'u' | 'n'];
  const ms = Number(m[1]) * unitMs;
  return ms > MAX_TIMER_MS ? undefined : ms;
}
