// Watch streams whose messages are encoded here, before grpc-js writes them: a message that cannot
// be encoded (a bug, or data nobody foresaw) ends only its own stream, with INTERNAL and an error
// log line saying which stream and what failed, instead of grpc-js's bare "Error serializing
// response" and no line in the log.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

/**
 * `service` with the response serializer of each of `methods` passing bytes through: their
 * handlers write messages encoded by an `EncodedStream`, so nothing is encoded twice.
 */
export function preEncoded(service: grpc.ServiceDefinition, methods: string[]): grpc.ServiceDefinition {
  const passThrough = methods.map((m) => [m, { ...service[m]!, responseSerialize: (bytes: Buffer) => bytes }]);
  return { ...service, ...Object.fromEntries(passThrough) };
}

/** The serializer grpc-js would use for `method`'s responses, before `preEncoded` replaces it: what its handler encodes with. */
export function responseEncoder<M>(service: grpc.ServiceDefinition, method: string): (message: M) => Buffer {
  return service[method]!.responseSerialize as (message: M) => Buffer;
}

export interface EncodedStreamOptions<M> {
  /** The serializer grpc-js would use for this method's responses. */
  encode: (message: M) => Buffer;
  logger: Logger;
  /**
   * Asked only on a failure: what the stream carries, for the status and the log (`endpoints of
   * orders.production.svc.cluster.local:8080 ...`), and the log line's fields (authority, port...).
   */
  describe: () => { subject: string; logFields: Record<string, unknown> };
}

/**
 * Writes a watch's updates to `call`. `send` is called from the discovery's refresh, beside every
 * other watcher, so it never throws: on a failure it ends this stream and logs, and the caller
 * (a proxy) keeps what it last received and asks again; every other stream goes on. The stream's
 * end stops its watch as any other end does (stopWhenEnded, registered before the first send).
 */
export class EncodedStream<M> {
  #failed = false;

  constructor(
    private readonly call: grpc.ServerWritableStream<unknown, Buffer>,
    private readonly options: EncodedStreamOptions<M>,
  ) {}

  /**
   * Builds and encodes every message of one update, then writes them all: an update is never
   * written in part. False once the stream has failed (now or before).
   */
  send(build: () => M[]): boolean {
    if (this.#failed) return false;
    let encoded: Buffer[];
    try {
      encoded = build().map((m) => this.options.encode(m));
    } catch (err) {
      this.#fail(err as Error);
      return false;
    }
    for (const bytes of encoded) this.call.write(bytes);
    return true;
  }

  #fail(err: Error): void {
    this.#failed = true;
    const { subject, logFields } = this.options.describe();
    const what = `${subject} could not be encoded: ${err.message}`;
    this.options.logger.error({ err, ...logFields }, `${what}; ending this stream`);
    this.call.emit('error', { code: grpc.status.INTERNAL, details: what });
  }
}
