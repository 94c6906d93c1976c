// The HTTP/2 endpoint path: one multiplexed session per endpoint, trailers, cancellation, resets.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointConnector } from '../../../../proxy/outbound/endpoint/connector.ts';
import { meshRequest, quietLogger, readBody, rejection } from './fixtures/harness.ts';
import { addressBlock } from '../../../helpers/address-block.ts';
import { streamed } from '../../../helpers/fake-request.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.2`;
const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

let server: http2.Http2Server;
let address: string;
let sessionsSeen = 0;
let liveSessions = new Set<http2.ServerHttp2Session>();
let endlessWritten = 0;
const streamEnds: Array<{ path: string; rstCode: number | undefined; aborted: boolean }> = [];

beforeAll(async () => {
  server = http2.createServer();
  server.on('session', (s) => {
    sessionsSeen++;
    liveSessions.add(s);
    s.on('close', () => liveSessions.delete(s));
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    let aborted = false;
    stream.on('aborted', () => (aborted = true));
    stream.on('error', () => {});
    stream.on('close', () => streamEnds.push({ path, rstCode: stream.rstCode, aborted }));
    if (path === '/echo') {
      // Echoes the body, then the request's trailers come back as response trailers (prefixed).
      stream.respond({ ':status': 200, 'x-got-dst-port': String(headers['l5d-dst-port'] ?? '') }, { waitForTrailers: true });
      stream.on('trailers', (t) => ((stream as unknown as { reqTrailers: object }).reqTrailers = t));
      stream.on('wantTrailers', () => {
        const t = (stream as unknown as { reqTrailers?: Record<string, string> }).reqTrailers ?? {};
        stream.sendTrailers({ 'x-echo-trailer': t['x-req-trailer'] ?? 'none' });
      });
      stream.pipe(stream);
    } else if (path === '/grpc-error') {
      // A trailers-only gRPC response: one HEADERS frame with END_STREAM.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not found' }, { endStream: true });
    } else if (path === '/slow') {
      setTimeout(() => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end('slow'); } }, 20);
    } else if (path === '/endless') {
      // Writes until flow control stops it; records how much got out.
      stream.respond({ ':status': 200 });
      const chunk = Buffer.alloc(64 * 1024, 1);
      endlessWritten = 0;
      const pump = (): void => {
        while (!stream.destroyed && stream.write(chunk)) endlessWritten += chunk.length;
      };
      stream.on('drain', pump);
      pump();
    } else if (path === '/hang') {
      stream.respond({ ':status': 200 });
      stream.write('started');
    } else if (path === '/reset-cancel') {
      stream.close(NGHTTP2_CANCEL);
    } else if (path === '/refuse-once') {
      // Refuses the first such stream of each session, as a server shedding load does.
      const sess = stream.session as unknown as { refusedOnce?: boolean };
      if (!sess.refusedOnce) {
        sess.refusedOnce = true;
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      } else {
        stream.respond({ ':status': 200 });
        stream.end('second try');
      }
    } else if (path === '/reset-noerror') {
      stream.close(NGHTTP2_NO_ERROR);
    } else if (path === '/goaway') {
      stream.respond({ ':status': 200 });
      stream.end('bye');
      stream.session!.goaway(NGHTTP2_NO_ERROR);
    } else {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    }
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  address = `${HOST}:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of liveSessions) s.destroy();
  await new Promise((r) => server.close(r));
});

function h2(path: string, extra: Parameters<typeof meshRequest>[0] = {}) {
  return meshRequest({ protocol: 'h2', path, ...extra });
}

describe('HTTP/2 endpoint client', () => {
  it('carries 50 concurrent streams on exactly one connection', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const svc = c.service({ address, weight: 1, labels: {} });
    const before = sessionsSeen;
    const bodies = await Promise.all(Array.from({ length: 50 }, () => svc(h2('/slow')).then(readBody)));
    expect(bodies.every((b) => b.toString() === 'slow')).toBe(true);
    expect(sessionsSeen - before).toBe(1);
    await Promise.all(Array.from({ length: 50 }, () => svc(h2('/')).then(readBody)));
    expect(sessionsSeen - before).toBe(1);
    await c.close();
  });

  it('closes a session once no stream has been open on it for the idle timeout, and not while one is', async () => {
    const c = new EndpointConnector({ logger: quietLogger, sessionIdleTimeoutMs: 300 });
    const svc = c.service({ address, weight: 1, labels: {} });
    const before = sessionsSeen;
    // A response held open past the idle timeout: its session stays.
    const held = await svc(h2('/hang'));
    const first = [...liveSessions].at(-1)!;
    await new Promise((r) => setTimeout(r, 700));
    expect(first.closed || first.destroyed).toBe(false);
    streamed(held.body).destroy();
    // Its last stream gone, the session goes after the idle timeout (and not before).
    await new Promise((r) => setTimeout(r, 100));
    expect(liveSessions.has(first)).toBe(true);
    await expect.poll(() => liveSessions.has(first), { timeout: 3_000 }).toBe(false);
    // The next request opens a new one.
    expect(await readBody(await svc(h2('/')))).toEqual(Buffer.from('ok'));
    expect(sessionsSeen - before).toBe(2);
    await c.close();
  });

  it('streams bodies both ways and carries trailers both ways', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const data = Buffer.alloc(3 << 20, 9);
    let sendTrailers!: (t: Record<string, string>) => void;
    const trailers = new Promise<Record<string, string>>((r) => (sendTrailers = r));
    const body = Readable.from((async function* () { yield data.subarray(0, 1 << 20); yield data.subarray(1 << 20); sendTrailers({ 'x-req-trailer': 'sum-42' }); })());
    const res = await c.service({ address, weight: 1, labels: {} })(h2('/echo', { method: 'POST', body, trailers }));
    expect(res.status).toBe(200);
    const got = await readBody(res);
    expect(got.equals(data)).toBe(true);
    expect(await res.trailers).toEqual({ 'x-echo-trailer': 'sum-42' });
    await c.close();
  });

  it('applies flow control: an unread response body stops the server writing', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const res = await c.service({ address, weight: 1, labels: {} })(h2('/endless'));
    await new Promise((r) => setTimeout(r, 300));
    // The stream window (1 MiB) plus the server's own buffering; nowhere near an unbounded read.
    expect(endlessWritten).toBeLessThan(8 << 20);
    const before = endlessWritten;
    // Reading lets it go on.
    let read = 0;
    streamed(res.body).on('data', (c: Buffer) => (read += c.length));
    await expect.poll(() => read, { timeout: 10_000 }).toBeGreaterThan(before + (4 << 20));
    streamed(res.body).destroy();
    await c.close();
  });

  it('passes a trailers-only gRPC response through untouched, with no body', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const res = await c.service({ address, weight: 1, labels: {} })(h2('/grpc-error', { method: 'POST', headers: { 'content-type': 'application/grpc', te: 'trailers' } }));
    expect(res.status).toBe(200);
    expect(res.body).toBeNull();
    expect(res.headers).toMatchObject({ 'grpc-status': '5', 'grpc-message': 'not found' });
    await c.close();
  });

  it('opens a new session after GOAWAY, keeps serving, and closes the old connection', async () => {
    const sockets: import('node:net').Socket[] = [];
    const c = new EndpointConnector({ logger: quietLogger, metrics: { trackConnection: (sock) => void sockets.push(sock) } });
    const svc = c.service({ address, weight: 1, labels: {} });
    const before = sessionsSeen;
    expect((await readBody(await svc(h2('/goaway')))).toString()).toBe('bye');
    // The server only sent GOAWAY and never closes: the client ends the drained connection itself.
    await expect.poll(() => sockets[0]?.destroyed, { timeout: 10_000 }).toBe(true);
    expect((await readBody(await svc(h2('/')))).toString()).toBe('ok');
    expect(sessionsSeen - before).toBe(2);
    expect(sockets.length).toBe(2);
    await c.close();
  });

  it('resets the upstream stream with CANCEL when the client cancels', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const ac = new AbortController();
    const res = await c.service({ address, weight: 1, labels: {} })(h2('/hang', { signal: ac.signal, method: 'POST', body: new Readable({ read() {} }) }));
    expect(res.status).toBe(200);
    streamed(res.body).on('error', () => {});
    ac.abort();
    await expect.poll(() => streamEnds.filter((e) => e.path === '/hang').at(-1), { timeout: 10_000 }).toMatchObject({ rstCode: NGHTTP2_CANCEL, aborted: true });
    await c.close();
  });

  it('closes within its grace period even with a stream still open', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const hangsBefore = streamEnds.filter((e) => e.path === '/hang').length;
    const res = await c.service({ address, weight: 1, labels: {} })(h2('/hang', { method: 'POST', body: new Readable({ read() {} }) }));
    streamed(res.body).on('error', () => {});
    const started = Date.now();
    await c.close(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect.poll(() => streamEnds.filter((e) => e.path === '/hang').length, { timeout: 10_000 }).toBeGreaterThan(hangsBefore);
  });

  it('turns a reset before the response (CANCEL or NO_ERROR) into UPSTREAM_RESET', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const svc = c.service({ address, weight: 1, labels: {} });
    for (const path of ['/reset-cancel', '/reset-noerror']) {
      const err = await rejection(svc(h2(path)));
      expect(err.code).toBe('UPSTREAM_RESET');
      expect(err.message).toContain(`endpoint ${address}`);
    }
    // The session survives a stream reset.
    expect((await readBody(await svc(h2('/')))).toString()).toBe('ok');
    await c.close();
  });

  it('sends a body-less request once more when the server refuses the stream', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const svc = c.service({ address, weight: 1, labels: {} });
    expect((await readBody(await svc(h2('/refuse-once')))).toString()).toBe('second try');
    // With a body already streamed, a refusal cannot be replayed: it is an error.
    const c2 = new EndpointConnector({ logger: quietLogger });
    const err = await rejection(c2.service({ address, weight: 1, labels: {} })(h2('/refuse-once', { method: 'POST', body: 'payload' })));
    expect(err.code).toBe('UPSTREAM_RESET');
    expect(err.message).toContain('refused');
    await c.close();
    await c2.close();
  });

  it('turns a refused connect into CONNECT_FAILED', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const err = await rejection(c.service({ address: `${HOST}:1`, weight: 1, labels: {} })(h2('/')));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toBe(`endpoint ${HOST}:1: connect refused`);
    await c.close();
  });

  it('names the target port in l5d-dst-port when the endpoint has a proxy', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const port = (server.address() as AddressInfo).port;
    const res = await c.service({ address: `${HOST}:9090`, inboundPort: port, weight: 1, labels: {} })(h2('/echo', { method: 'POST', body: 'x' }));
    expect(res.headers['x-got-dst-port']).toBe('9090');
    await readBody(res);
    await c.close();
  });
});
