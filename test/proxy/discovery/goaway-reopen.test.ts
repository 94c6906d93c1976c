// A destination watch (ResilientStream over the proxy's GrpcChannel) whose server sends GOAWAY, as
// one does when it restarts: the watch moves to a new connection at once, through the backoff,
// instead of staying on the draining one until the server cuts it or the channel's drain bound
// (40 s by default) does. A raw node:http2 server over TLS, which holds each stream open.
import { constants, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointUpdateMessage, GetDestinationMessage } from '../../../api/destination-messages.ts';
import { grpcMethod } from '../../../api/proto-codec.ts';
import { ResilientStream } from '../../../proxy/discovery/resilient-stream.ts';
import { GrpcChannel, type ChannelOptions } from '../../../proxy/grpc/channel.ts';
import { startRawGrpcServer } from '../../helpers/raw-grpc-server.ts';

const getEndpoints = grpcMethod<GetDestinationMessage, EndpointUpdateMessage>('destination', 'mesh.destination.v1.Destination', 'GetEndpoints');

let server: Http2SecureServer;
let options: ChannelOptions;
/** Every stream the server has taken, in arrival order. */
const streams: ServerHttp2Stream[] = [];
/** When set, the server sends GOAWAY on a session as soon as a stream arrives on it. */
let goAwayAtOnce = false;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  ({ server, options } = await startRawGrpcServer((stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' });
    streams.push(stream);
    if (goAwayAtOnce) stream.session!.goaway(constants.NGHTTP2_NO_ERROR);
  }));
  // keepaliveMs and keepaliveTimeoutMs as in production: a drained stream would wait 40 s.
}, 30_000);

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const stream of streams.splice(0)) if (!stream.closed) stream.close();
  goAwayAtOnce = false;
});

afterAll(() => {
  server.close();
});

/** A watch on `channel`, its log lines and what its callers were told was lost. */
function watch(channel: GrpcChannel, minMs: number, maxMs = 5_000) {
  const logs: Array<{ msg: string; attempt?: number; retryInMs?: number }> = [];
  const lost: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const stream = new ResilientStream<EndpointUpdateMessage>(
    'endpoints web',
    { open: () => channel.serverStream(getEndpoints, { authority: 'web' }), onMessage: () => {}, onLost: (why) => lost.push(why) },
    { minMs, maxMs },
    logger,
  );
  cleanups.push(() => {
    stream.stop();
    channel.close();
  });
  stream.start();
  return { stream, logs, lost };
}

describe('a destination watch whose server sends GOAWAY', () => {
  it('moves to a new connection at once (not after the drain bound): the old stream is cancelled, and its callers are told nothing was lost', async () => {
    const { lost, logs } = watch(new GrpcChannel(options), 100);
    await expect.poll(() => streams.length).toBe(1);
    const first = streams[0]!;
    first.session!.goaway(constants.NGHTTP2_NO_ERROR);
    // Within a few seconds on a loaded machine; the drain bound alone would take 40 s.
    await expect.poll(() => streams.length, { timeout: 15_000 }).toBe(2);
    expect(streams[1]!.session).not.toBe(first.session);
    await expect.poll(() => first.closed).toBe(true);
    expect(first.rstCode).toBe(constants.NGHTTP2_CANCEL);
    expect(lost).toEqual([]);
    expect(logs.map((l) => l.msg)).toContain('destination stream moving to a new connection; keeping last state');
  }, 30_000);

  it('a GOAWAY with an error code (the server tearing the connection down, as grpc-js\'s forceShutdown does) is a loss: the callers are told', async () => {
    const { lost } = watch(new GrpcChannel(options), 100);
    await expect.poll(() => streams.length).toBe(1);
    streams[0]!.session!.goaway(constants.NGHTTP2_CANCEL);
    await expect.poll(() => lost.length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(lost[0]).toMatch(/UNAVAILABLE/);
    // Reopened all the same, on a new connection.
    await expect.poll(() => streams.length, { timeout: 15_000 }).toBe(2);
  }, 30_000);

  it('a server that sends GOAWAY on every connection meets the backoff, growing, not a tight loop', async () => {
    goAwayAtOnce = true;
    const { logs } = watch(new GrpcChannel(options), 40);
    await expect.poll(() => logs.filter((l) => l.attempt !== undefined).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
    const moves = logs.filter((l) => l.attempt !== undefined).slice(0, 4);
    expect(moves.map((l) => l.attempt)).toEqual([1, 2, 3, 4]);
    // Full jitter between half and all of 40, 80, 160, 320 ms.
    moves.forEach((l, i) => expect(l.retryInMs).toBeGreaterThanOrEqual(20 * 2 ** i));
  }, 30_000);

  it('a retired stream (one another replaces) keeps its call while it lasts, and opens no other once it ends', async () => {
    const { stream, lost } = watch(new GrpcChannel(options), 20, 100);
    await expect.poll(() => streams.length).toBe(1);
    stream.retire();
    expect(stream.open).toBe(true);
    expect(streams[0]!.closed).toBe(false);
    // The server ends the call: a live stream would reopen within 100 ms; a retired one is over.
    streams[0]!.close();
    await expect.poll(() => stream.open).toBe(false);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(streams).toHaveLength(1);
    expect(lost).toEqual([]);
  }, 30_000);
});
