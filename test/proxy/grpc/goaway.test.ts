// The proxy's gRPC client when the server tells its connection to go away (a raw node:http2
// server over TLS, which sends GOAWAY while a watch is open): the watch finishes on the old
// connection (within a bound, since a draining connection cannot be pinged), new calls take a new
// one, and nothing of the old connection outlives it.
import { connect as h2Connect, constants, type Http2SecureServer, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import { queryObjects } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointUpdateMessage, GetDestinationMessage } from '../../../api/destination-messages.ts';
import { grpcMethod } from '../../../api/proto-codec.ts';
import { GrpcChannel, type ChannelOptions } from '../../../proxy/grpc/channel.ts';
import type { ClientCall } from '../../../proxy/grpc/call.ts';
import type { GrpcError } from '../../../proxy/grpc/status.ts';
import { startRawGrpcServer } from '../../helpers/raw-grpc-server.ts';

const getEndpoints = grpcMethod<GetDestinationMessage, EndpointUpdateMessage>('destination', 'mesh.destination.v1.Destination', 'GetEndpoints');
const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' };

let server: Http2SecureServer;
let options: ChannelOptions;
/** The streams the server holds open, in arrival order, and how many connections it has taken. */
const held: ServerHttp2Stream[] = [];
let sessionsTaken = 0;
/** The class of node:http2's client sessions, to count how many the heap still holds. */
let ClientSession: new () => object;

beforeAll(async () => {
  let base: ChannelOptions;
  ({ server, options: base } = await startRawGrpcServer((stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    held.push(stream);
  }));
  server.on('session', () => sessionsTaken++);
  options = { ...base, keepaliveMs: 50 }; // often, so a timer left behind would have run many times over
  const probe = h2Connect('http://127.0.0.1:1');
  probe.on('error', () => {});
  ClientSession = Object.getPrototypeOf(probe).constructor;
  probe.destroy();
}, 30_000);

afterAll(() => {
  server.close();
});

/** How the call ended: undefined for OK, else its error. */
function ended<Req, Res>(call: ClientCall<Req, Res>): Promise<GrpcError | undefined> {
  return new Promise((resolve) => {
    call.on('data', () => {});
    call.on('end', () => resolve(undefined));
    call.on('error', resolve);
  });
}

/**
 * Sends GOAWAY on the server's session, then a PING: once the client has answered the PING it has
 * read the GOAWAY before it (frames are read in order), with no waiting on a clock.
 */
async function goAway(session: Http2Session, code: number): Promise<void> {
  session.goaway(code);
  await new Promise<void>((resolve) => session.ping(() => resolve()));
}

/** Client sessions still reachable after a full garbage collection (queryObjects collects first). */
function liveClientSessions(): number {
  return queryObjects(ClientSession, { format: 'count' }) as number;
}

describe('GrpcChannel and a server that sends GOAWAY', () => {
  it('graceful GOAWAY (NO_ERROR): the open watch finishes on the draining connection, a new call takes a new one', async () => {
    const ch = new GrpcChannel(options);
    try {
      const first = ended(ch.serverStream(getEndpoints, { authority: 'a' }));
      await expect.poll(() => held.length).toBe(1);
      const draining = held.shift()!;
      const before = sessionsTaken;
      await goAway(draining.session!, constants.NGHTTP2_NO_ERROR);
      const second = ended(ch.serverStream(getEndpoints, { authority: 'b' }));
      await expect.poll(() => held.length).toBe(1);
      expect(sessionsTaken).toBe(before + 1);
      expect(held[0]!.session).not.toBe(draining.session);
      held.shift()!.end();
      expect(await second).toBeUndefined();
      draining.end();
      expect(await first).toBeUndefined();
    } finally {
      ch.close();
    }
  });

  it('graceful GOAWAY, then the server holds the watch and says nothing more: the watch ends UNAVAILABLE after the keepalive bound, not never', async () => {
    // A draining connection cannot be pinged, so its calls get keepaliveMs + keepaliveTimeoutMs.
    const ch = new GrpcChannel({ ...options, keepaliveMs: 200, keepaliveTimeoutMs: 200 });
    try {
      const watch = ended(ch.serverStream(getEndpoints, { authority: 'a' }));
      await expect.poll(() => held.length).toBe(1);
      const stream = held.shift()!;
      await goAway(stream.session!, constants.NGHTTP2_NO_ERROR);
      const err = await watch;
      expect(err).toMatchObject({ code: 'UNAVAILABLE' });
      expect(err!.details).toMatch(/the server sent GOAWAY and the calls left on its connection did not end within 400 ms/);
      await expect.poll(() => stream.closed).toBe(true);
    } finally {
      ch.close();
    }
  });

  for (const [kind, code] of [['graceful (NO_ERROR)', constants.NGHTTP2_NO_ERROR], ['with an error (ENHANCE_YOUR_CALM)', constants.NGHTTP2_ENHANCE_YOUR_CALM]] as const) {
    it(`GOAWAY ${kind}, then the channel is closed: once the connection is gone, nothing holds it (its keepalive timer stopped with it)`, async () => {
      const ch = new GrpcChannel(options);
      // Only the status's name is kept: an error's stack holds the stream it was made on, and so the session.
      const watch = ended(ch.serverStream(getEndpoints, { authority: 'a' })).then((err) => err?.code ?? 'OK');
      await expect.poll(() => held.length).toBe(1);
      const stream = held.shift()!;
      const serverSession = stream.session!;
      // The client hears the GOAWAY before the watch ends, so it is the GOAWAY that lets the connection go.
      await goAway(serverSession, code);
      if (!stream.destroyed) stream.end();
      expect(await watch).toBe(code === constants.NGHTTP2_NO_ERROR ? 'OK' : 'UNAVAILABLE');
      ch.close();
      serverSession.destroy();
      // The session closes a moment after its last stream; a timer still holding it keeps it alive for good.
      await expect.poll(() => liveClientSessions(), { timeout: 10_000, interval: 1000 }).toBe(0);
    });
  }
});
