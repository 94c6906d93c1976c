// The proxy's gRPC client against servers that take the TCP connection and then stall: one that
// never starts TLS, one that finishes TLS and never speaks HTTP/2. The call fails UNAVAILABLE once
// the connect timeout passes, naming the server and saying it timed out, instead of hanging.
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointUpdateMessage, GetDestinationMessage } from '../../../api/destination-messages.ts';
import type { CertifyRequestMessage, CertifyResponseMessage } from '../../../api/identity-proto.ts';
import { grpcMethod } from '../../../api/proto-codec.ts';
import { GrpcChannel, type ChannelOptions } from '../../../proxy/grpc/channel.ts';
import type { ClientCall } from '../../../proxy/grpc/call.ts';
import type { GrpcError } from '../../../proxy/grpc/status.ts';
import { productionId, testPki } from '../../helpers/pki.ts';

const getEndpoints = grpcMethod<GetDestinationMessage, EndpointUpdateMessage>('destination', 'mesh.destination.v1.Destination', 'GetEndpoints');
const certify = grpcMethod<CertifyRequestMessage, CertifyResponseMessage>('identity', 'mesh.identity.v1.Identity', 'Certify');

/** Takes connections and says nothing: no TLS ServerHello. */
let silentTcp: NetServer;
/** Finishes TLS (offering h2) and then says nothing: no HTTP/2 SETTINGS. */
let silentTls: TlsServer;
const sockets: Socket[] = [];
let options: Omit<ChannelOptions, 'addr'>;

const addrOf = (s: NetServer) => `127.0.0.1:${(s.address() as { port: number }).port}`;

beforeAll(async () => {
  const pki = await testPki();
  const serving = (await pki.credentialsFor('spiffe://cluster.local/ns/mesh-system/sa/destination')).current();
  silentTcp = createNetServer((socket) => sockets.push(socket.on('error', () => {})));
  silentTls = createTlsServer({ ...serving, ALPNProtocols: ['h2'] }, (socket) => sockets.push(socket.on('error', () => {})));
  await Promise.all([silentTcp, silentTls].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  const client = await pki.credentialsFor(productionId('checkout'));
  options = {
    trustAnchorsPem: pki.anchorPem,
    clientCertificate: client.current(),
    servername: 'destination.linkerd.svc.cluster.local',
    checkServerIdentity: () => undefined,
    connectTimeoutMs: 300,
  };
}, 30_000);

afterAll(() => {
  for (const s of sockets) s.destroy();
  silentTcp.close();
  silentTls.close();
});

/** The status the call ended with (it must end with one). */
function statusOf<Req, Res>(call: ClientCall<Req, Res>): Promise<GrpcError> {
  return new Promise((resolve, reject) => {
    call.on('data', () => {});
    call.on('end', () => reject(new Error('the call ended OK')));
    call.on('error', resolve);
  });
}

describe('GrpcChannel against a server that never finishes connecting', () => {
  for (const [what, server] of [['never starts TLS', () => silentTcp], ['finishes TLS but never speaks HTTP/2', () => silentTls]] as const) {
    it(`a server that ${what}: a watch fails UNAVAILABLE after the connect timeout, naming the server and saying it timed out`, async () => {
      const addr = addrOf(server());
      const ch = new GrpcChannel({ ...options, addr });
      try {
        const err = await statusOf(ch.serverStream(getEndpoints, { authority: 'orders' }));
        expect(err).toMatchObject({ code: 'UNAVAILABLE' });
        expect(err.details).toContain(addr);
        expect(err.details).toMatch(/timed out: no TLS and HTTP\/2 connection within 300 ms/);
      } finally {
        ch.close();
      }
    });
  }

  it('a unary call whose deadline is later than the connect timeout fails UNAVAILABLE (the connection), not DEADLINE_EXCEEDED', async () => {
    const addr = addrOf(silentTcp);
    const ch = new GrpcChannel({ ...options, addr });
    try {
      const request = { identity: 'x', token: Buffer.alloc(0), certificateSigningRequest: Buffer.alloc(0) };
      const err = await ch.unary(certify, request, 30_000).then(() => undefined, (e: unknown) => e as GrpcError);
      expect(err).toMatchObject({ code: 'UNAVAILABLE' });
      expect(err!.details).toContain(`the server at ${addr}`);
      expect(err!.details).toMatch(/connecting timed out/);
    } finally {
      ch.close();
    }
  });
});
