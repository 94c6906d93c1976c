// gRPC end to end with @grpc/grpc-js: client -> outbound -> inbound -> gRPC app, all four call
// kinds, statuses and trailing metadata, deadlines, cancellation, 4 MB messages, and CONNECT.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoClient, startGrpcEcho, type EchoApp } from '../helpers/grpc-echo.ts';
import { startAppBehindTwoProxies, type AppBehindProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const AUTHORITY = 'echo.test.svc.cluster.local:9090';
let mesh: AppBehindProxies<EchoApp>;
let client: ReturnType<typeof echoClient>;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startGrpcEcho, { clientIp: `${NET}.5`, serverIp: `${NET}.6`, authority: AUTHORITY });
  client = echoClient(`${mesh.outbound.host}:${mesh.outbound.port}`, AUTHORITY);
});
afterAll(async () => {
  client?.close();
  await mesh?.close();
});

function unary(c: typeof client, req: object, opts: grpc.CallOptions = {}): Promise<{ reply?: any; err?: grpc.ServiceError; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c.Unary(req, new grpc.Metadata(), opts, (err: grpc.ServiceError | null, reply: unknown) =>
      setImmediate(() => resolve({ reply, err: err ?? undefined, trailers })),
    );
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

describe('gRPC through two proxies', () => {
  it('unary: reply and custom trailing metadata intact', async () => {
    const { reply, err, trailers } = await unary(client, { text: 'one' });
    expect(err).toBeUndefined();
    expect(reply.text).toBe('one');
    expect(trailers?.get('x-trailer')).toEqual(['t-one']);
  });

  it('status codes, messages and custom trailing metadata of failures arrive intact', async () => {
    const { err } = await unary(client, { text: 'bad', failCode: grpc.status.FAILED_PRECONDITION });
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err?.details).toBe('asked to fail: bad');
    expect(err?.metadata.get('x-detail')).toEqual(['failed-bad']);
    expect(err?.metadata.get('x-bin-bin')).toEqual([Buffer.from([1, 2, 3])]);
  });

  it('server streaming', async () => {
    const call = client.ServerStream({ text: 's', count: 5 });
    const got: number[] = [];
    for await (const m of call) got.push((m as { index: number }).index);
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it('client streaming', async () => {
    const reply = await new Promise<any>((resolve, reject) => {
      const call = client.ClientStream((err: Error | null, r: unknown) => (err ? reject(err) : resolve(r)));
      for (const t of ['a', 'b', 'c']) call.write({ text: t });
      call.end();
    });
    expect(reply).toMatchObject({ text: 'a,b,c', index: 3 });
  });

  it('bidi streaming', async () => {
    const call = client.Bidi();
    const got: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: { text: string }) => got.push(m.text));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (const t of ['x', 'y', 'z']) call.write({ text: t });
    call.end();
    await done;
    expect(got).toEqual(['X', 'Y', 'Z']);
  });

  it('a deadline ends in DEADLINE_EXCEEDED', async () => {
    const { err } = await unary(client, { text: 'slow', sleepMs: 2000 }, { deadline: Date.now() + 300 });
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('a client cancel reaches the server', async () => {
    const call = client.ServerStream({ text: 'cancel-me', count: 1000, sleepMs: 20 });
    call.on('error', () => {});
    await new Promise((r) => call.once('data', r));
    call.cancel();
    await expect.poll(() => mesh.app.cancelled, { timeout: 5000 }).toContain('cancel-me');
  });

  it('a 4 MB message both ways', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024, 7);
    const { reply, err } = await unary(client, { text: 'big', payload });
    expect(err).toBeUndefined();
    expect(Buffer.compare(reply.payload, payload)).toBe(0);
  });

  it('through CONNECT (grpc-js with grpc_proxy): same answers', async () => {
    // grpc-js reads the proxy from the environment when a channel is made.
    const saved = process.env.grpc_proxy;
    process.env.grpc_proxy = mesh.proxyUrl;
    // No default_authority override: the name only the proxy can resolve is the CONNECT target.
    const viaConnect = echoClient(AUTHORITY, AUTHORITY);
    if (saved === undefined) delete process.env.grpc_proxy;
    else process.env.grpc_proxy = saved;
    try {
      const { reply, err, trailers } = await unary(viaConnect, { text: 'via-connect' });
      expect(err).toBeUndefined();
      expect(reply.text).toBe('via-connect');
      expect(trailers?.get('x-trailer')).toEqual(['t-via-connect']);
      const { err: failed } = await unary(viaConnect, { text: 'nope', failCode: grpc.status.NOT_FOUND });
      expect(failed?.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      viaConnect.close();
    }
    expect(mesh.outbound.logs.some((l) => l.msg === `CONNECT ${AUTHORITY}: tunnel carries h2`)).toBe(true);
  });

  it('no endpoint answers UNAVAILABLE from the proxy itself, trailers-only', async () => {
    const nowhere = echoClient(`${mesh.outbound.host}:${mesh.outbound.port}`, `${NET}.6:1`);
    try {
      const { err } = await unary(nowhere, { text: 'x' });
      expect(err?.code).toBe(grpc.status.UNAVAILABLE);
      expect(err?.metadata.get('l5d-proxy-error')[0]).toMatch(/connect|refused/i);
    } finally {
      nowhere.close();
    }
  });
});
