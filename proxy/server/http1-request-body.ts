// A request body at the HTTP/1.1 edge: a Readable the connection's parser pushes into, read by
// the stack like any stream (forward, the retry layer's replay, metrics); a full buffer stops the
// connection reading until the body's reader asks for more, which is the backpressure to the client.
import { Readable } from 'node:stream';
import type { HeaderMap } from '../http/message.ts';

/** What the body asks of its connection. */
export interface BodySource {
  /** The reader wants more: read the socket again, if it was stopped for this body. */
  resumeReading(): void;
}

export class RequestBody extends Readable {
  /** The parser has read the body whole (node:http's `req.complete`). */
  complete = false;
  /** A chunked body's trailers, set before the body ends; empty when it had none. */
  trailers: HeaderMap = {};

  constructor(private readonly source: BodySource) {
    super();
    // Destroyed with an error when the client goes mid-body. As node:http's IncomingMessage, the
    // error is for a reader that listens for one: a body nobody reads (any more) must not become
    // an uncaught exception that takes the proxy down.
    this.on('error', ignore);
  }

  override _read(): void {
    this.source.resumeReading();
  }
}

/** Resolves to the body's trailers once it has ended (undefined if none came, or it never ended). */
export function requestTrailers(body: RequestBody): Promise<HeaderMap | undefined> {
  return new Promise((resolve) => {
    body.once('end', () => resolve(Object.keys(body.trailers).length > 0 ? body.trailers : undefined));
    body.once('close', () => resolve(undefined));
  });
}

function ignore(): void {}
