// One gRPC call on an HTTP/2 stream, from the client's side: the request headers, the request
// messages, then the response's messages as 'data' and, once the stream is over, 'end' (status
// OK) or 'error' (a GrpcError: the server's status, or what the client saw instead of one).
import { EventEmitter } from 'node:events';
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { GrpcMethod } from '../../api/proto-codec.ts';
import { GrpcError, Status, statusOfHttp, statusOfTrailers } from './status.ts';
import { frameMessages, MessageReader } from './wire.ts';

/** The largest message this client takes (grpc-js's default receive limit). */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The events a caller listens to; exactly one of 'end' and 'error' comes, last, unless the caller
 * cancelled the call: a cancelled call says nothing more.
 */
export interface ClientCall<Req, Res> {
  on(event: 'data', listener: (message: Res) => void): this;
  on(event: 'error', listener: (err: GrpcError) => void): this;
  on(event: 'end', listener: () => void): this;
  /**
   * The server told the call's connection to go away (GOAWAY: a restart, a rolling update). The
   * call goes on, and may still end well; a watch, which never ends, should be opened again (on
   * a new connection) rather than wait for the server to cut it.
   */
  on(event: 'draining', listener: () => void): this;
  /** Sends one more request message (a client-streaming or bidirectional call). */
  write(message: Req): void;
  /** Ends the call from this side at once (RST_STREAM CANCEL). */
  cancel(): void;
}

export class Call<Req, Res> extends EventEmitter implements ClientCall<Req, Res> {
  private readonly reader = new MessageReader(MAX_MESSAGE_BYTES);
  /** The status once known: from a trailers-only response, the trailers, or what went wrong here. */
  private outcome: GrpcError | 'ok' | undefined;
  /** Set once the caller has heard how the call ended, or cancelled it. */
  private finished = false;
  private readonly timer: NodeJS.Timeout | undefined;

  /**
   * `stream` is the call's HTTP/2 stream, its headers sent; `timeoutMs` its deadline (the
   * `grpc-timeout` the server was told), counted from now. `describe` names the server in errors.
   */
  constructor(
    private readonly method: GrpcMethod<Req, Res>,
    private readonly stream: ClientHttp2Stream,
    timeoutMs: number | undefined,
    private readonly describe: string,
  ) {
    super();
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.fail(new GrpcError(Status.DEADLINE_EXCEEDED, `deadline of ${timeoutMs} ms exceeded (${method.path} on ${describe})`)), timeoutMs);
      this.timer.unref();
    }
    stream.on('response', (headers) => this.onResponse(headers));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => {
      this.outcome ??= statusOfTrailers(trailers);
    });
    // The connection's failure (refused, TLS, the server's identity) comes here, then 'close'. So
    // does the server's reset of this stream, whose code says more: withoutStatus reads it at 'close'.
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_HTTP2_STREAM_ERROR') return;
      this.outcome ??= new GrpcError(Status.UNAVAILABLE, `${describe}: ${err.message}`);
    });
    stream.on('close', () => this.onClose());
  }

  write(message: Req): void {
    if (this.finished || this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.write(frameMessages([this.method.request.encode(message)]));
  }

  /** The last request message: sent with END_STREAM (a unary or server-streaming call). */
  end(message: Req): void {
    this.stream.end(frameMessages([this.method.request.encode(message)]));
  }

  /** Its connection is draining (the channel saw the server's GOAWAY): the caller hears 'draining'. */
  connectionDraining(): void {
    if (!this.finished) this.emit('draining');
  }

  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.stream.close(constants.NGHTTP2_CANCEL);
  }

  private onResponse(headers: IncomingHttpHeaders): void {
    const httpStatus = Number(headers[':status']);
    if (httpStatus !== 200) {
      this.fail(new GrpcError(statusOfHttp(httpStatus), `${this.describe} answered HTTP ${httpStatus} to ${this.method.path}`));
      return;
    }
    // A trailers-only response (a refusal, an unknown method): the status is in the headers.
    const status = statusOfTrailers(headers);
    if (status === undefined && !headers['content-type']?.startsWith('application/grpc')) {
      // Not a gRPC server (a web page, another service on the port): its body is not messages.
      this.fail(new GrpcError(Status.UNKNOWN, `${this.describe} answered content-type ${JSON.stringify(headers['content-type'] ?? '')} to ${this.method.path}, not gRPC`));
      return;
    }
    this.outcome ??= status;
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    let messages: Buffer[];
    try {
      messages = this.reader.push(chunk);
    } catch (err) {
      this.fail(new GrpcError(Status.RESOURCE_EXHAUSTED, `${(err as Error).message} (${this.method.path} on ${this.describe})`));
      return;
    }
    for (const bytes of messages) {
      let message: Res;
      try {
        message = this.method.response.decode(bytes);
      } catch (err) {
        this.fail(new GrpcError(Status.INTERNAL, `cannot decode a response of ${this.method.path}: ${(err as Error).message}`));
        return;
      }
      this.emit('data', message);
      if (this.finished) return; // a listener cancelled the call
    }
  }

  /** Ends the call here (deadline, a bad message): the caller hears `err`, the server a CANCEL. */
  private fail(err: GrpcError): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.stream.close(constants.NGHTTP2_CANCEL);
    this.emit('error', err);
  }

  private onClose(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    const outcome = this.outcome ?? this.withoutStatus();
    if (outcome === 'ok' && this.reader.partial) this.emit('error', new GrpcError(Status.INTERNAL, `${this.method.path}: the stream ended inside a message`));
    else if (outcome === 'ok') this.emit('end');
    else this.emit('error', outcome);
  }

  /** What a stream that closed without a status means, by how it closed. */
  private withoutStatus(): GrpcError {
    const code = this.stream.rstCode ?? constants.NGHTTP2_NO_ERROR;
    if (code === constants.NGHTTP2_REFUSED_STREAM) return new GrpcError(Status.UNAVAILABLE, `${this.describe} refused the stream (${this.method.path})`);
    if (code === constants.NGHTTP2_CANCEL) return new GrpcError(Status.CANCELLED, `${this.describe} cancelled ${this.method.path}`);
    if (code !== constants.NGHTTP2_NO_ERROR) return new GrpcError(Status.INTERNAL, `${this.describe} reset ${this.method.path} with HTTP/2 code ${code}`);
    return new GrpcError(Status.UNKNOWN, `${this.describe} ended ${this.method.path} without a status`);
  }
}

/** A unary call as a promise: its one response message, or the GrpcError it ended with. */
export function unaryResult<Req, Res>(call: Call<Req, Res>, path: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    let response: Res | undefined;
    call.on('data', (message) => (response = message));
    call.on('error', reject);
    call.on('end', () => (response === undefined ? reject(new GrpcError(Status.UNIMPLEMENTED, `${path} answered OK without a message`)) : resolve(response)));
  });
}
