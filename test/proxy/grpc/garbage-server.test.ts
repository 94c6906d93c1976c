// The proxy's gRPC client against a server that does not speak gRPC properly (a raw node:http2
// server over TLS, behind a TCP relay that can go silent): each kind of garbage, and a peer that
// vanishes without a FIN, ends the call with a status that says what was wrong.
import type { Http2SecureServer, ServerHttp2Stream } from 'node:http2';
import { connect as tcpConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StopFailures } from '../../helpers/teardown.ts';
import type { EndpointUpdateMessage, GetDestinationMessage } from '../../../api/destination-messages.ts';
import { grpcMethod } from '../../../api/proto-codec.ts';
import { GrpcChannel, type ChannelOptions } from '../../../proxy/grpc/channel.ts';
import type { ClientCall } from '../../../proxy/grpc/call.ts';
import { frameMessages } from '../../../proxy/grpc/wire.ts';
import type { GrpcError } from '../../../proxy/grpc/status.ts';
import { startRawGrpcServer } from '../../helpers/raw-grpc-server.ts';

const getEndpoints = grpcMethod<GetDestinationMessage, EndpointUpdateMessage>('destination', 'mesh.destination.v1.Destination', 'GetEndpoints');
const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' };

/** How the server answers, per authority asked for (the request's bytes carry it in clear). */
const answers: Record<string, (stream: ServerHttp2Stream) => void> = {
  'http-503': (s) => s.respond({ ':status': 503, 'content-type': 'text/plain' }, { endStream: true }),
  'html-page': (s) => {
    s.respond({ ':status': 200, 'content-type': 'text/html' });
    s.end('<html>not gRPC</html>');
  },
  undecodable: (s) => {
    s.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frameMessages([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])]));
  },
  truncated: (s) => {
    s.respond(GRPC_HEADERS, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frameMessages([Buffer.alloc(10)]).subarray(0, 8));
  },
  'no-status': (s) => {
    s.respond(GRPC_HEADERS);
    s.end();
  },
  'bad-status': (s) => s.respond({ ...GRPC_HEADERS, 'grpc-status': 'abc' }, { endStream: true }),
  // Headers, then silence: the relay in front stops carrying bytes (a peer that vanished without a FIN).
  vanished: (s) => {
    s.respond(GRPC_HEADERS);
    vanishedAnswered++;
    setTimeout(() => (relayFrozen = true), 50);
  },
  reset: (s) => {
    s.respond(GRPC_HEADERS);
    s.destroy(new Error('the server broke mid-stream')); // RST_STREAM INTERNAL_ERROR, without END_STREAM first
  },
};

let server: Http2SecureServer;
/** A TCP relay in front of the server, which carries nothing once frozen. */
let relay: NetServer;
let relayFrozen = false;
/** How many 'vanished' calls the server has answered with headers. */
let vanishedAnswered = 0;
let ch: GrpcChannel;
let options: ChannelOptions;

beforeAll(async () => {
  ({ server, options } = await startRawGrpcServer((stream) => {
    stream.on('error', () => {}); // the reset below is this server's own doing
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const request = Buffer.concat(chunks).toString('latin1');
      const answer = Object.keys(answers).find((name) => request.includes(name));
      answers[answer!]!(stream);
    });
  }));
  ch = new GrpcChannel(options);
  const carry = (from: Socket, to: Socket) => from.on('data', (chunk: Buffer) => void (relayFrozen || to.write(chunk)));
  relay = createNetServer((inbound) => {
    const outbound = tcpConnect((server.address() as { port: number }).port, '127.0.0.1');
    for (const s of [inbound, outbound]) s.on('error', () => {});
    carry(inbound, outbound);
    carry(outbound, inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
}, 30_000);

// Each part is stopped, and waited for, even when an earlier one failed to start or to stop.
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('channel', () => ch?.close());
  await failures.attempt('relay', () => relay && new Promise<void>((resolve) => { relay.close(() => resolve()); }));
  await failures.attempt('server', () => server && new Promise<void>((resolve) => { server.close(() => resolve()); }));
  failures.throwIfAny('garbage-server teardown');
});

/** The status the call ended with (it must end with one). */
function statusOf(call: ClientCall<GetDestinationMessage, EndpointUpdateMessage>): Promise<GrpcError> {
  return new Promise((resolve, reject) => {
    call.on('data', () => reject(new Error('a message came through')));
    call.on('end', () => reject(new Error('the call ended OK')));
    call.on('error', resolve);
  });
}

describe('GrpcChannel against a server that answers garbage', () => {
  it('an HTTP status other than 200: as the gRPC spec maps it, naming the status', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'http-503' }));
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect(err.details).toMatch(/answered HTTP 503/);
  });

  it('a 200 that is not gRPC (an HTML page): UNKNOWN, naming the content-type, not read as messages', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'html-page' }));
    expect(err).toMatchObject({ code: 'UNKNOWN' });
    expect(err.details).toMatch(/content-type "text\/html"/);
  });

  it('a message that is not the response type: INTERNAL, saying it cannot be decoded', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'undecodable' }));
    expect(err).toMatchObject({ code: 'INTERNAL' });
    expect(err.details).toMatch(/cannot decode a response of \/mesh\.destination\.v1\.Destination\/GetEndpoints/);
  });

  it('a stream that ends inside a message, even with status OK: INTERNAL', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'truncated' }));
    expect(err).toMatchObject({ code: 'INTERNAL' });
    expect(err.details).toMatch(/ended inside a message/);
  });

  it('a stream that ends without a status: UNKNOWN, saying so', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'no-status' }));
    expect(err).toMatchObject({ code: 'UNKNOWN' });
    expect(err.details).toMatch(/without a status/);
  });

  it('a grpc-status that is not a number: UNKNOWN, quoting it', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'bad-status' }));
    expect(err).toMatchObject({ code: 'UNKNOWN' });
    expect(err.details).toMatch(/grpc-status "abc"/);
  });

  /** A channel to the server through the relay, carrying bytes again, with this keepalive. */
  function throughRelay(keepaliveMs: number, keepaliveTimeoutMs: number): GrpcChannel {
    relayFrozen = false;
    return new GrpcChannel({ ...options, addr: `127.0.0.1:${(relay.address() as { port: number }).port}`, keepaliveMs, keepaliveTimeoutMs });
  }

  /** A watch whose server goes silent once it has answered: UNAVAILABLE, naming the unanswered ping's timeout. */
  async function silenceIsNoticed(keepaliveMs: number, keepaliveTimeoutMs: number): Promise<void> {
    const wary = throughRelay(keepaliveMs, keepaliveTimeoutMs);
    try {
      const err = await statusOf(wary.serverStream(getEndpoints, { authority: 'vanished' }));
      expect(err).toMatchObject({ code: 'UNAVAILABLE' });
      expect(err.details).toMatch(`keepalive ping not answered within ${keepaliveTimeoutMs} ms`);
    } finally {
      wary.close();
    }
  }

  it('a server that stops answering mid-stream: the keepalive ping goes unanswered, the connection is dropped, UNAVAILABLE saying so', async () => {
    await silenceIsNoticed(300, 300);
  }, 15_000);

  it('a keepalive timeout longer than its interval still runs out: a server that stops answering is noticed, not pinged again and again', async () => {
    await silenceIsNoticed(100, 500);
  }, 15_000);

  it('a channel closed while a watch is open (a rotated certificate) keeps pinging under the watch: a server that then goes silent is noticed', async () => {
    const wary = throughRelay(300, 300);
    const before = vanishedAnswered;
    const call = wary.serverStream(getEndpoints, { authority: 'vanished' });
    const err = statusOf(call);
    await expect.poll(() => vanishedAnswered).toBe(before + 1);
    wary.close(); // as the destination client does after a rotation: the watch stays on this channel
    expect(await err).toMatchObject({ code: 'UNAVAILABLE' });
    expect((await err).details).toMatch(/keepalive ping not answered within 300 ms/);
  }, 15_000);

  it('a stream reset with INTERNAL_ERROR: INTERNAL, naming the HTTP/2 code', async () => {
    const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'reset' }));
    expect(err.details).toMatch(/reset .* with HTTP\/2 code 2/);
    expect(err).toMatchObject({ code: 'INTERNAL' });
  });
});
