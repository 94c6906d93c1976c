// gRPC through the endpoint tier, behind the proxy's real HTTP/2 edge, with real @grpc/grpc-js
// clients and servers: all call kinds, statuses and trailing metadata intact, deadlines,
// cancellation, large messages, one connection.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointConnector } from '../../../../proxy/outbound/endpoint/connector.ts';
import { serveOnEdge, type ServedEdge } from '../../../helpers/edge.ts';
import { quietLogger } from './fixtures/harness.ts';
import { addressBlock } from '../../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.5`;
type Msg = { text?: string; payload?: Buffer };
type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const def = protoLoader.loadSync(fileURLToPath(new URL('../../fixtures/echo.proto', import.meta.url)), { keepCase: true });
const Echo = (grpc.loadPackageDefinition(def).meshtest as grpc.GrpcObject).Echo as grpc.ServiceClientConstructor;

let server: grpc.Server;
let edge: ServedEdge;
let connector: EndpointConnector;
let connections = 0;
let cancelledOnServer: Promise<void>;
let serverSawCancel!: () => void;

beforeAll(async () => {
  cancelledOnServer = new Promise((r) => (serverSawCancel = r));
  server = new grpc.Server({ 'grpc.max_receive_message_length': 8 << 20 });
  server.addService(Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const text = call.request.text ?? '';
      if (text === 'fail') {
        const md = new grpc.Metadata();
        md.set('x-reason', 'asked-to-fail');
        return cb({ code: grpc.status.NOT_FOUND, details: 'no such order: 7', metadata: md });
      }
      if (text === 'slow') return setTimeout(() => cb(null, { text }), 1500);
      const md = new grpc.Metadata();
      md.set('x-trailer', 'kept');
      cb(null, { text: `echo:${text}`, payload: call.request.payload }, md);
    },
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      if (call.request.text === 'forever') {
        const timer = setInterval(() => call.write({ text: 'tick' }), 10);
        call.on('cancelled', () => { clearInterval(timer); serverSawCancel(); });
        return;
      }
      for (let i = 0; i < 5; i++) call.write({ text: `${call.request.text}-${i}` });
      call.end();
    },
    ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const parts: string[] = [];
      call.on('data', (m: Msg) => parts.push(m.text ?? ''));
      call.on('end', () => cb(null, { text: parts.join('+') }));
    },
    Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ text: `re:${m.text}` }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  connector = new EndpointConnector({ logger: quietLogger, metrics: { trackConnection: () => void connections++ } });
  const endpoint = { address: `${HOST}:${port}`, weight: 1, labels: {} };
  edge = await serveOnEdge(HOST, (req) => connector.service(endpoint)(req), 'h2');
});
afterAll(async () => {
  await edge.close();
  await connector.close();
  server.forceShutdown();
});

function client(): EchoClient {
  return new Echo(new URL(edge.origin).host, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 8 << 20 }) as unknown as EchoClient;
}

function unary(c: EchoClient, req: Msg, opts: grpc.CallOptions = {}): Promise<{ res?: Msg; err?: grpc.ServiceError; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c.Unary(req, new grpc.Metadata(), opts, (err: grpc.ServiceError | null, res: Msg) => setImmediate(() => resolve({ res, err: err ?? undefined, trailers }))) as grpc.ClientUnaryCall;
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

describe('gRPC through the endpoint tier', () => {
  it('carries unary calls, statuses, messages and trailing metadata intact', async () => {
    const c = client();
    const ok = await unary(c, { text: 'hi' });
    expect(ok.res?.text).toBe('echo:hi');
    expect(ok.trailers?.get('x-trailer')).toEqual(['kept']);
    const failed = await unary(c, { text: 'fail' });
    expect(failed.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(failed.err?.details).toBe('no such order: 7');
    expect(failed.err?.metadata.get('x-reason')).toEqual(['asked-to-fail']);
    c.close();
  });

  it('carries server-streaming, client-streaming and bidi calls', async () => {
    const c = client();
    const streamed: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = c.ServerStream({ text: 's' }) as grpc.ClientReadableStream<Msg>;
      call.on('data', (m: Msg) => streamed.push(m.text!));
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(streamed).toEqual(['s-0', 's-1', 's-2', 's-3', 's-4']);
    const summed = await new Promise<Msg>((resolve, reject) => {
      const call = c.ClientStream((err: Error | null, res: Msg) => (err ? reject(err) : resolve(res))) as grpc.ClientWritableStream<Msg>;
      for (const t of ['a', 'b', 'c']) call.write({ text: t });
      call.end();
    });
    expect(summed.text).toBe('a+b+c');
    const replies: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = c.Bidi() as grpc.ClientDuplexStream<Msg, Msg>;
      call.on('data', (m: Msg) => { replies.push(m.text!); if (replies.length < 3) call.write({ text: String(replies.length) }); else call.end(); });
      call.on('end', resolve);
      call.on('error', reject);
      call.write({ text: '0' });
    });
    expect(replies).toEqual(['re:0', 're:1', 're:2']);
    c.close();
  });

  it('carries a 4 MB message both ways', async () => {
    const c = client();
    const blob = Buffer.alloc(4 << 20, 5);
    const { res, err } = await unary(c, { text: 'big', payload: blob });
    expect(err).toBeUndefined();
    expect(res!.payload!.equals(blob)).toBe(true);
    c.close();
  });

  it('ends a call past its deadline in DEADLINE_EXCEEDED', async () => {
    const c = client();
    const { err } = await unary(c, { text: 'slow' }, { deadline: Date.now() + 200 });
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    c.close();
  });

  it('passes a client cancel on to the server', async () => {
    const c = client();
    const call = c.ServerStream({ text: 'forever' }) as grpc.ClientReadableStream<Msg>;
    call.on('error', () => {});
    await new Promise((r) => call.once('data', r));
    call.cancel();
    await cancelledOnServer;
    c.close();
  });

  it('makes exactly one connection to the endpoint for 50 concurrent clients', async () => {
    const before = connections;
    const clients = Array.from({ length: 50 }, client);
    const results = await Promise.all(clients.map((c, i) => unary(c, { text: String(i) })));
    expect(results.map((r) => r.res?.text)).toEqual(clients.map((_, i) => `echo:${i}`));
    // The session opened by the first test is still in use: no new connection at all.
    expect(connections - before).toBe(0);
    expect(connections).toBe(1);
    for (const c of clients) c.close();
  });
});
