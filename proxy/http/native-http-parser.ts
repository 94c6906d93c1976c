// Node's own HTTP/1 parser (llhttp compiled into Node, the one node:http uses), typed for the
// endpoint client (responses), the proxy's HTTP/1.1 server edge and bench/h1-lean-server.ts (requests). It is not public API: Node exposes it as `_http_common`'s HTTPParser, with
// numbered callback slots that node:http's client fills in (`_http_client.js`). It parses in C++
// where undici's copy of llhttp runs as WebAssembly (under V8's baseline compiler in a proxy).
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** One parser: `initialize` it for a connection, feed it with `execute`, and `close` it after. */
export interface NativeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  /** The bytes parsed, or an Error (`code` HPE_*, `reason`) when the input is not HTTP. */
  execute(data: Buffer): number | ParseError;
  /** The peer's end of stream: completes a body delimited by the connection's close, or an Error if one was cut short. */
  finish(): undefined | ParseError;
  close(): void;
  /** Reads a socket's handle itself, in C++: no 'data' events; each read's result goes to `kOnExecute` (node:http's server does this). */
  consume(handle: object): void;
  /** Gives the handle's reads back to the socket (a CONNECT or Upgrade leaves HTTP). */
  unconsume(): void;
  /** A copy of the read being parsed; only inside `kOnExecute` (the bytes past an upgrade's head). */
  getCurrentBuffer(): Buffer;
  [slot: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  reason?: string;
}

interface NativeHttpParserClass {
  new (): NativeHttpParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

// By createRequire: `_http_common` is a built-in module missing from ESM's list of importable ones.
const require = createRequire(import.meta.url);
const common = require('_http_common') as { HTTPParser: NativeHttpParserClass; methods: readonly string[] };
// Not public API, so checked once at load: a Node whose parser lost a slot or a method the proxy
// uses stops the proxy at start with this, not a TypeError at its first request.
const missing = ['kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kOnExecute', 'REQUEST', 'RESPONSE']
  .filter((name) => typeof (common.HTTPParser as unknown as Record<string, unknown> | undefined)?.[name] !== 'number')
  .concat(['initialize', 'execute', 'finish', 'close', 'consume', 'unconsume', 'getCurrentBuffer'].filter((name) => typeof common.HTTPParser?.prototype?.[name as keyof NativeHttpParser] !== 'function'))
  .concat(Array.isArray(common.methods) ? [] : ['methods']);
if (missing.length > 0) {
  throw new Error(`Node ${process.version}'s built-in HTTP parser (_http_common.HTTPParser) lacks ${missing.join(', ')}, which the proxy's HTTP/1 edge and client read requests and responses with; run the proxy on Node 20 (the version it is built and tested on)`);
}
export const HTTPParser: NativeHttpParserClass = common.HTTPParser;
/** A request's method as the parser reports it, a number: its name is `METHODS[number]`. */
export const METHODS: readonly string[] = common.methods;

/**
 * The head's callback, as node_http_parser.cc calls it. `headers` is a flat [name, value, ...]
 * list in the case the peer wrote; it is undefined when the head was longer than the parser's
 * batch (32 headers), whose headers then came through `kOnHeaders` calls before. A request
 * parser gives its method (an index into `METHODS`) and its target, which is then empty when
 * it came in pieces through `kOnHeaders` (`OnHeaders`); a response parser gives neither.
 */
export type OnHeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number | undefined,
  url: string | undefined,
  statusCode: number,
  statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number | void;

/** A batch of a long head's headers (or a chunked body's trailers), and for a request, a piece of its target. */
export type OnHeaders = (headers: string[], url: string) => void;

/** A socket's native handle, as much of it as a parser that reads it needs. */
interface StreamHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
  isStreamBase?: boolean;
  _consumed?: boolean;
}

/**
 * A socket whose reads a parser takes straight from the handle, in C++ (node:http's server does
 * the same): no Buffer handed to JavaScript, no stream push and no 'data' event per read; each
 * read's result reaches the parser's `kOnExecute`. What the socket already holds (bytes unshifted
 * into it) still comes as 'data'. Reading stops and starts at the handle, where the socket's own
 * pause and resume no longer reach: both HTTP/1 connections, the server edge's and the endpoint
 * client's, read their sockets so.
 */
export class ConsumedHandle {
  private constructor(
    private readonly parser: NativeHttpParser,
    private readonly handle: StreamHandle,
  ) {}

  /** The parser takes `socket`'s reads, `onExecute` hearing of each; null for a socket with no native handle to take (then feed the parser 'data'). */
  static take(parser: NativeHttpParser, socket: Socket, onExecute: (ret: number | ParseError) => void): ConsumedHandle | null {
    const handle = (socket as Socket & { _handle?: StreamHandle })._handle;
    if (!handle?.isStreamBase || handle._consumed) return null;
    handle._consumed = true;
    parser.consume(handle);
    parser[HTTPParser.kOnExecute] = onExecute;
    return new ConsumedHandle(parser, handle);
  }

  /** Stops reading (backpressure): no read until `start`. */
  stop(): void {
    if (!this.handle.reading) return;
    this.handle.reading = false;
    this.handle.readStop();
  }

  /** Reads again, unless the socket is gone. */
  start(socket: Socket): void {
    if (this.handle.reading || socket.destroyed) return;
    this.handle.reading = true;
    this.handle.readStart();
  }

  /** The parser lets go: the socket's reads are its own again ('data'), or the socket closes without the parser holding its handle. */
  release(): void {
    this.parser.unconsume();
    this.handle._consumed = false;
  }
}
