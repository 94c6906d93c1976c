// The proxy's gRPC client against a real grpc-js server over mTLS (the control plane's own library):
// messages in proto-loader's shapes both ways, unary, server-streaming and bidirectional calls,
// the server's status codes and messages, deadlines, cancels, and connections that fail.
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationProto } from '../../../api/destination-proto.ts';
import { OptionalClientCertCredentials, verifiedCallerIdentity } from '../../../destination/grpc/server-credentials.ts';
import type { EndpointUpdateMessage, GetDestinationMessage, PodAnnouncementMessage, RegistrationEventMessage } from '../../../api/destination-messages.ts';
import type { CertifyRequestMessage, CertifyResponseMessage } from '../../../api/identity-proto.ts';
import { identityService } from '../../../api/identity-service.ts';
import { grpcMethod } from '../../../api/proto-codec.ts';
import { serverIdentityCheck } from '../../../api/spiffe.ts';
import { GrpcChannel, type ChannelOptions } from '../../../proxy/grpc/channel.ts';
import type { ClientCall } from '../../../proxy/grpc/call.ts';
import { GrpcError } from '../../../proxy/grpc/status.ts';
import { productionId, testPki, type TestPki } from '../../helpers/pki.ts';

const SERVER_ID = 'spiffe://cluster.local/ns/mesh-system/sa/destination';
const certify = grpcMethod<CertifyRequestMessage, CertifyResponseMessage>('identity', 'mesh.identity.v1.Identity', 'Certify');
const getEndpoints = grpcMethod<GetDestinationMessage, EndpointUpdateMessage>('destination', 'mesh.destination.v1.Destination', 'GetEndpoints');
const register = grpcMethod<PodAnnouncementMessage, RegistrationEventMessage>('destination', 'mesh.destination.v1.Registration', 'Register');

let pki: TestPki;
let server: grpc.Server;
let addr: string;
let serverCredentials: grpc.ServerCredentials;
/** What the server's handlers saw, for the tests to read. */
const seen = { certify: [] as CertifyRequestMessage[], clientIds: [] as string[], cancelled: [] as string[], announced: [] as PodAnnouncementMessage[] };
/** How GetEndpoints answers, per authority. */
const behaviours: Record<string, (call: grpc.ServerWritableStream<GetDestinationMessage, EndpointUpdateMessage>) => void> = {
  'two-then-ok': (call) => {
    call.write({ add: { endpoints: [{ address: '10.0.0.1:8080', weight: 1, labels: { pod: 'a' } }] } });
    call.write({ remove: { addresses: ['10.0.0.1:8080'] } });
    call.end();
  },
  denied: (call) => call.emit('error', Object.assign(new Error('x'), { code: grpc.status.PERMISSION_DENIED, details: 'not yours: 100% é / :' })),
  huge: (call) => call.write({ add: { endpoints: [{ address: '10.0.0.1:8080', labels: { big: 'x'.repeat(5 * 1024 * 1024) } }] } }),
  hang: (call) => call.on('cancelled', () => seen.cancelled.push('GetEndpoints')),
};

function channel(overrides: Partial<ChannelOptions> = {}, clientIdentity = productionId('checkout')): Promise<GrpcChannel> {
  return pki.credentialsFor(clientIdentity).then((creds) => new GrpcChannel({
    addr,
    trustAnchorsPem: pki.anchorPem,
    clientCertificate: creds.current(),
    servername: 'destination.linkerd.svc.cluster.local',
    checkServerIdentity: serverIdentityCheck('the destination', SERVER_ID),
    ...overrides,
  }));
}

/** Everything a call says until it is over. */
function outcome<Req, Res>(call: ClientCall<Req, Res>): Promise<{ messages: Res[]; error?: GrpcError }> {
  const messages: Res[] = [];
  return new Promise((resolve) => {
    call.on('data', (m) => messages.push(m));
    call.on('end', () => resolve({ messages }));
    call.on('error', (error) => resolve({ messages, error }));
  });
}

beforeAll(async () => {
  pki = await testPki();
  const serving = await pki.credentialsFor(SERVER_ID);
  const { key, cert } = serving.current();
  server = new grpc.Server();
  server.addService(identityService().service, {
    Certify: (call: grpc.ServerUnaryCall<CertifyRequestMessage, CertifyResponseMessage>, done: grpc.sendUnaryData<CertifyResponseMessage>) => {
      seen.certify.push(call.request);
      if (call.request.identity === 'slow') {
        call.on('cancelled', () => seen.cancelled.push('Certify'));
        return;
      }
      done(null, { leafCertificate: Buffer.from('leaf'), intermediateCertificates: [Buffer.from('i1'), Buffer.from('i2')], validUntilMs: 1_700_000_000_123 });
    },
  });
  const proto = destinationProto();
  server.addService(proto.Destination.service, {
    GetEndpoints: (call: grpc.ServerWritableStream<GetDestinationMessage, EndpointUpdateMessage>) => behaviours[call.request.authority!]!(call),
    GetProfile: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  server.addService(proto.Registration.service, {
    Register: (call: grpc.ServerDuplexStream<PodAnnouncementMessage, RegistrationEventMessage>) => {
      seen.clientIds.push(verifiedCallerIdentity(call) ?? '');
      call.on('data', (a: PodAnnouncementMessage) => {
        seen.announced.push(a);
        call.write({ accepted: true, message: `hello ${a.name}` });
      });
      call.on('cancelled', () => seen.cancelled.push('Register'));
    },
  });
  // The destination's own server credentials: client certificates asked for and verified.
  serverCredentials = new OptionalClientCertCredentials({ key: String(key), cert: String(cert), ca: pki.anchorPem });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials, (err, p) => (err ? reject(err) : resolve(p))));
  addr = `127.0.0.1:${port}`;
}, 30_000);

afterAll(() => {
  server.forceShutdown();
});

describe('GrpcChannel against a grpc-js server', () => {
  it('a unary call: the request arrives as sent, the response comes back in proto-loader shapes (bytes as Buffers, int64 as a Number)', async () => {
    const ch = await channel();
    try {
      const res = await ch.unary(certify, { identity: productionId('checkout'), token: Buffer.from('tok'), certificateSigningRequest: Buffer.from([0, 1, 2]) }, 5_000);
      expect(res).toEqual({ leafCertificate: Buffer.from('leaf'), intermediateCertificates: [Buffer.from('i1'), Buffer.from('i2')], validUntilMs: 1_700_000_000_123 });
      expect(seen.certify.at(-1)).toEqual({ identity: productionId('checkout'), token: Buffer.from('tok'), certificateSigningRequest: Buffer.from([0, 1, 2]) });
    } finally {
      ch.close();
    }
  });

  it('a server stream: each message as data, with the oneof named and defaults filled in, then end', async () => {
    const ch = await channel();
    try {
      const { messages, error } = await outcome(ch.serverStream(getEndpoints, { authority: 'two-then-ok', contextNamespace: 'production' }));
      expect(error).toBeUndefined();
      expect(messages).toHaveLength(2);
      expect(messages[0]).toMatchObject({ update: 'add', add: { endpoints: [{ address: '10.0.0.1:8080', weight: 1, identity: '', labels: { pod: 'a' }, metricLabels: {} }] } });
      expect(messages[1]).toMatchObject({ update: 'remove', remove: { addresses: ['10.0.0.1:8080'] } });
    } finally {
      ch.close();
    }
  });

  it("the server's status: its code, name and message (percent-decoded, as sent)", async () => {
    const ch = await channel();
    try {
      const { error } = await outcome(ch.serverStream(getEndpoints, { authority: 'denied' }));
      expect(error).toBeInstanceOf(GrpcError);
      expect(error).toMatchObject({ status: 7, code: 'PERMISSION_DENIED', details: 'not yours: 100% é / :' });
      expect(error!.message).toBe('7 PERMISSION_DENIED: not yours: 100% é / :');
    } finally {
      ch.close();
    }
  });

  it('a message over 4 MB is refused (RESOURCE_EXHAUSTED), not buffered', async () => {
    const ch = await channel();
    try {
      const { error } = await outcome(ch.serverStream(getEndpoints, { authority: 'huge' }));
      expect(error).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
      expect(error!.details).toMatch(/over this client's limit of 4194304/);
    } finally {
      ch.close();
    }
  });

  it('a deadline: DEADLINE_EXCEEDED when it passes, and the server sees the call cancelled', async () => {
    const ch = await channel();
    try {
      const err = await ch.unary(certify, { identity: 'slow', token: Buffer.alloc(0), certificateSigningRequest: Buffer.alloc(0) }, 300).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED', status: 4 });
      await expect.poll(() => seen.cancelled.includes('Certify'), { timeout: 5_000 }).toBe(true);
    } finally {
      ch.close();
    }
  });

  it('a bidirectional stream: each write reaches the server, its answers come back, the client certificate is the one given; cancel ends it on both sides', async () => {
    const ch = await channel({}, productionId('orders'));
    try {
      const call = ch.bidiStream(register);
      const answers: RegistrationEventMessage[] = [];
      call.on('data', (m) => answers.push(m));
      call.on('error', () => {});
      call.write({ name: 'orders-0', namespace: 'production', ports: [{ name: 'http', port: 8080, protocol: '' }] });
      call.write({ name: 'orders-0', namespace: 'production', notReady: true });
      await expect.poll(() => answers.length, { timeout: 5_000 }).toBe(2);
      expect(answers[0]).toEqual({ accepted: true, message: 'hello orders-0' });
      expect(seen.announced.slice(-2).map((a) => a.notReady)).toEqual([false, true]);
      expect(seen.clientIds.at(-1)).toBe(productionId('orders'));
      call.cancel();
      await expect.poll(() => seen.cancelled.includes('Register'), { timeout: 5_000 }).toBe(true);
    } finally {
      ch.close();
    }
  });

  it('a server that does not answer in time: cancelled streams free the server, and a watch with no deadline hears nothing until cancelled', async () => {
    const ch = await channel();
    try {
      const call = ch.serverStream(getEndpoints, { authority: 'hang' });
      let heard = false;
      call.on('data', () => (heard = true));
      call.on('error', () => (heard = true));
      call.on('end', () => (heard = true));
      await new Promise((r) => setTimeout(r, 200));
      call.cancel();
      await expect.poll(() => seen.cancelled.includes('GetEndpoints'), { timeout: 5_000 }).toBe(true);
      expect(heard).toBe(false);
    } finally {
      ch.close();
    }
  });

  it('a server whose identity is not the one expected: UNAVAILABLE, saying what it presented', async () => {
    const ch = await channel({ checkServerIdentity: serverIdentityCheck('the destination', productionId('orders')) });
    try {
      const { error } = await outcome(ch.serverStream(getEndpoints, { authority: 'two-then-ok' }));
      expect(error).toMatchObject({ code: 'UNAVAILABLE' });
      expect(error!.details).toContain(`the destination presented ${SERVER_ID}, expected ${productionId('orders')}`);
    } finally {
      ch.close();
    }
  });

  it('nothing listening: UNAVAILABLE at once; the same channel dials again on the next call, and works once a server is there', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const ch = await channel({ addr: `127.0.0.1:${free}` });
    const late = new grpc.Server();
    try {
      const request = { identity: 'x', token: Buffer.alloc(0), certificateSigningRequest: Buffer.alloc(0) };
      const err = await ch.unary(certify, request, 5_000).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE' });
      expect((err as GrpcError).details).toMatch(/ECONNREFUSED/);
      late.addService(identityService().service, {
        Certify: (_call: unknown, done: grpc.sendUnaryData<CertifyResponseMessage>) => done(null, { leafCertificate: Buffer.from('late'), intermediateCertificates: [], validUntilMs: 1 }),
      });
      await new Promise<void>((resolve, reject) => late.bindAsync(`127.0.0.1:${free}`, serverCredentials, (e) => (e ? reject(e) : resolve())));
      await expect(ch.unary(certify, request, 5_000)).resolves.toEqual({ leafCertificate: Buffer.from('late'), intermediateCertificates: [], validUntilMs: 1 });
    } finally {
      ch.close();
      late.forceShutdown();
    }
  });

  it('a call started just before the channel closes (a rotation while a watch opens) still runs to its end on the connection being made', async () => {
    const ch = await channel();
    const call = ch.serverStream(getEndpoints, { authority: 'two-then-ok' });
    ch.close();
    const { messages, error } = await outcome(call);
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(2);
  });

  it('a closed channel refuses new calls with UNAVAILABLE, saying so', async () => {
    const ch = await channel();
    ch.close();
    expect(() => ch.serverStream(getEndpoints, { authority: 'two-then-ok' })).toThrow(/channel to .* is closed/);
  });
});
