// The HTTP/1.1 endpoint path: undici Pool per endpoint, bounded, streaming, with typed errors.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointConnector, type ConnectionTracker } from '../../../../proxy/outbound/endpoint/connector.ts';
import { meshRequest, quietLogger, readBody, rejection } from './fixtures/harness.ts';
import { addressBlock } from '../../../helpers/address-block.ts';
import { streamed } from '../../../helpers/fake-request.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.1`;

let server: http.Server;
let address: string;
const serverSockets = new Set<Socket>();
let inFlight = 0;
/** What the /endless handler wrote, and whether its response was closed (by a cancel). */
let endlessWritten = 0;
let endlessClosed = false;
let peakInFlight = 0;

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  switch (url.pathname) {
    case '/echo': {
      // Echo the body's length and hash, never the body: streams both ways stay streams.
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; hash.update(c); });
      req.on('end', () => res.end(JSON.stringify({ n, sha: hash.digest('hex'), headers: req.headers })));
      return;
    }
    case '/cookies':
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-multi', ['one', 'two']);
      res.end('ok');
      return;
    case '/status':
      res.statusCode = Number(url.searchParams.get('code'));
      res.setHeader('content-length', '5');
      res.end(req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304 ? undefined : 'hello');
      return;
    case '/trailers':
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('part');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
      return;
    case '/slow': {
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      setTimeout(() => { inFlight--; res.end('done'); }, 30);
      return;
    }
    case '/endless': {
      // Writes until the client stops reading; records how much got out.
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) endlessWritten += chunk.length;
      };
      endlessWritten = 0;
      res.on('drain', pump);
      res.on('close', () => endlessClosed = true);
      pump();
      return;
    }
    case '/die-before':
      req.socket.destroy();
      return;
    case '/die-mid':
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000));
      setTimeout(() => req.socket.destroy(), 20);
      return;
  }
  res.statusCode = 404;
  res.end();
}

beforeAll(async () => {
  server = http.createServer(handler);
  server.on('connection', (s: Socket) => { serverSockets.add(s); s.on('close', () => serverSockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  address = `${HOST}:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

function connector(extra: Partial<ConstructorParameters<typeof EndpointConnector>[0]> = {}): EndpointConnector {
  return new EndpointConnector({ logger: quietLogger, ...extra });
}

describe('HTTP/1.1 endpoint client', () => {
  it('streams a 1 MB request body up and answers with repeated headers intact', async () => {
    const c = connector();
    const svc = c.service({ address, weight: 1, labels: {} });
    const data = Buffer.alloc(1 << 20, 3);
    // `expect` was answered by the server edge; undici refuses it, so it is not forwarded, and the body still goes.
    const res = await svc(meshRequest({ method: 'POST', path: '/echo', body: Readable.from([data.subarray(0, 1000), data.subarray(1000)]), headers: { 'x-a': ['1', '2'], expect: '100-continue', te: 'trailers' } }));
    const echoed = JSON.parse((await readBody(res)).toString());
    expect(echoed.n).toBe(data.length);
    expect(echoed.sha).toBe(createHash('sha256').update(data).digest('hex'));
    expect(echoed.headers.host).toBe('svc.test:80');
    expect(echoed.headers['x-a']).toBe('1, 2');
    expect(echoed.headers['l5d-dst-port']).toBeUndefined();
    expect(echoed.headers.expect).toBeUndefined();
    expect(echoed.headers.te).toBeUndefined();

    const cookies = await svc(meshRequest({ path: '/cookies' }));
    expect(cookies.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(cookies.headers['x-multi']).toEqual(['one', 'two']);
    // hop-by-hop headers from the server never leave the endpoint tier
    expect(cookies.headers['connection']).toBeUndefined();
    expect(cookies.headers['keep-alive']).toBeUndefined();
    await readBody(cookies);
    await c.close();
  });

  it('gives HEAD, 204 and 304 no body, and other statuses theirs', async () => {
    const c = connector();
    const svc = c.service({ address, weight: 1, labels: {} });
    for (const [method, code, hasBody] of [['HEAD', 200, false], ['GET', 204, false], ['GET', 304, false], ['GET', 404, true]] as const) {
      const res = await svc(meshRequest({ method, path: `/status?code=${code}` }));
      expect(res.status).toBe(code);
      expect(res.body === null).toBe(!hasBody);
      expect((await readBody(res)).toString()).toBe(hasBody ? 'hello' : '');
    }
    // The connection is reused afterwards: HEAD's content-length did not confuse the framing.
    const res = await svc(meshRequest({ path: '/status?code=200' }));
    expect((await readBody(res)).toString()).toBe('hello');
    await c.close();
  });

  it('passes chunked response trailers on', async () => {
    const c = connector();
    const res = await c.service({ address, weight: 1, labels: {} })(meshRequest({ path: '/trailers' }));
    expect((await readBody(res)).toString()).toBe('part');
    expect(await res.trailers).toEqual({ 'x-checksum': 'abc' });
    await c.close();
  });

  it('keeps 50 concurrent requests within the pool maximum, reusing connections', async () => {
    const opened: Socket[] = [];
    const metrics: ConnectionTracker = { trackConnection: (s, labels) => { expect(labels).toMatchObject({ peer: 'dst', tls: false, direction: 'outbound' }); opened.push(s); } };
    const c = connector({ http1Connections: 8, metrics });
    const svc = c.service({ address, weight: 1, labels: {} });
    peakInFlight = 0;
    const all = await Promise.all(Array.from({ length: 50 }, () => svc(meshRequest({ path: '/slow' })).then(readBody)));
    expect(all.every((b) => b.toString() === 'done')).toBe(true);
    expect(opened.length).toBeLessThanOrEqual(8);
    expect(opened.length).toBeGreaterThan(1);
    expect(peakInFlight).toBeLessThanOrEqual(8);
    // A second wave reuses the same keep-alive connections.
    await Promise.all(Array.from({ length: 20 }, () => svc(meshRequest({ path: '/slow' })).then(readBody)));
    expect(opened.length).toBeLessThanOrEqual(8);
    await c.close();
  });

  it('has a connection back in its pool by the time its response is handed on, so the next request sent then reuses it', async () => {
    const opened: Socket[] = [];
    const c = connector({ http1Connections: 4, metrics: { trackConnection: (s) => opened.push(s) } });
    const svc = c.service({ address, weight: 1, labels: {} });
    // Each request is sent from the promise callback its predecessor's response resolved: the
    // same turn of the event loop in which that response was read. A body-less request and one
    // with a body, whose response comes only once the body has been written whole.
    let texts: string[] = [];
    let ask = Promise.resolve();
    for (let i = 0; i < 6; i++) {
      const spec = i % 2 === 0 ? { path: '/cookies' } : { path: '/echo', method: 'POST', body: 'x'.repeat(i * 100), headers: { 'content-length': String(i * 100) } };
      ask = ask.then(() => svc(meshRequest(spec))).then((res) => void readBody(res).then((b) => texts.push(b.toString())));
    }
    await ask;
    await expect.poll(() => texts.length).toBe(6);
    texts = texts.map((t) => (t === 'ok' ? t : String(JSON.parse(t).n)));
    expect(texts).toEqual(['ok', '100', 'ok', '300', 'ok', '500']);
    expect(opened.length).toBe(1);
    await c.close();
  });

  it('applies backpressure: an unread response body stops the server writing', async () => {
    const c = connector();
    const res = await c.service({ address, weight: 1, labels: {} })(meshRequest({ path: '/endless' }));
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const written = endlessWritten;
    // Socket buffers on both sides plus one stream highWaterMark; far below what an unbounded read would take.
    expect(written).toBeLessThan(16 << 20);
    // Dropping the body cancels the upstream request.
    streamed(res.body).destroy();
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(true);
    await c.close();
  });

  it('closes within its grace period even with a response still streaming', async () => {
    const c = connector();
    const res = await c.service({ address, weight: 1, labels: {} })(meshRequest({ path: '/endless' }));
    streamed(res.body).on('error', () => {});
    endlessClosed = false;
    const started = Date.now();
    await c.close(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(true);
  });

  it('cancels the upstream request when the client goes away', async () => {
    const c = connector();
    const ac = new AbortController();
    const res = await c.service({ address, weight: 1, labels: {} })(meshRequest({ path: '/endless', signal: ac.signal }));
    endlessClosed = false;
    ac.abort();
    const err = await new Promise<Error>((r) => streamed(res.body).once('error', r));
    expect(err.message).toMatch(/cancelled by the client/);
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(true);
    await c.close();
  });

  it('turns a refused connect into CONNECT_FAILED naming the endpoint', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, HOST, r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const c = connector();
    const err = await rejection(c.service({ address: `${HOST}:${port}`, weight: 1, labels: {} })(meshRequest()));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toBe(`endpoint ${HOST}:${port}: connect refused`);
    await c.close();
  });

  it('turns an upstream that closes before or during the response into UPSTREAM_RESET', async () => {
    const c = connector();
    const svc = c.service({ address, weight: 1, labels: {} });
    const before = await rejection(svc(meshRequest({ path: '/die-before' })));
    expect(before.code).toBe('UPSTREAM_RESET');
    expect(before.message).toContain(`endpoint ${address}`);
    const mid = await svc(meshRequest({ path: '/die-mid' }));
    expect(mid.status).toBe(200);
    const midErr = await rejection(readBody(mid));
    expect(midErr.code).toBe('UPSTREAM_RESET');
    // And the next request still works.
    const ok = await svc(meshRequest({ path: '/status?code=200' }));
    expect((await readBody(ok)).toString()).toBe('hello');
    await c.close();
  });

  it('refuses what cannot be sent with BAD_REQUEST, and a malformed endpoint address with CONNECT_FAILED', async () => {
    const c = connector();
    const bad = await rejection(c.service({ address, weight: 1, labels: {} })(meshRequest({ headers: { 'x-evil': 'a\r\nInjected: yes' } })));
    expect(bad.code).toBe('BAD_REQUEST');
    const malformed = await rejection(c.service({ address: 'no-port-here', weight: 1, labels: {} })(meshRequest()));
    expect(malformed.code).toBe('CONNECT_FAILED');
    expect(malformed.message).toBe('endpoint no-port-here: not an ip:port address');
    await c.close();
  });

  it('evicts an endpoint left idle, closing its connections, and rebuilds it on the next use', async () => {
    const opened: Socket[] = [];
    const c = connector({ endpointIdleMs: 100, idleTimeoutMs: 60_000, metrics: { trackConnection: (sock) => void opened.push(sock) } });
    const held = c.service({ address, weight: 1, labels: {} });
    await readBody(await held(meshRequest({ path: '/status?code=200' })));
    expect(opened.length).toBe(1);
    // Keep-alive would hold the connection for a minute; eviction closes it after two idle sweeps.
    await expect.poll(() => opened[0]!.destroyed, { timeout: 10_000 }).toBe(true);
    // A caller still holding the old Service is served by a fresh entry.
    expect((await readBody(await held(meshRequest({ path: '/status?code=200' })))).toString()).toBe('hello');
    expect(opened.length).toBe(2);
    await c.close();
  });

  it('lets a plaintext connection to another proxy idle out as soon as one to an app', async () => {
    // The peer tells plaintext protocols apart by the first bytes; a pooled connection left unused
    // past its detect timeout would be taken for opaque TCP. Only mTLS hops idle longer
    // (mtls-identity.test.ts beside this one).
    const opened: Socket[] = [];
    const c = connector({ idleTimeoutMs: 100, proxyIdleTimeoutMs: 60_000, metrics: { trackConnection: (sock) => void opened.push(sock) } });
    const port = (server.address() as AddressInfo).port;
    await readBody(await c.service({ address: `${HOST}:8080`, inboundPort: port, weight: 1, labels: {} })(meshRequest({ path: '/status?code=200' })));
    expect(opened.length).toBe(1);
    await expect.poll(() => opened[0]!.destroyed, { timeout: 10_000 }).toBe(true);
    await c.close();
  });

  it('connects to the inbound port of a proxied endpoint and names the target port', async () => {
    const c = connector();
    const port = (server.address() as AddressInfo).port;
    const res = await c.service({ address: `${HOST}:8080`, inboundPort: port, weight: 1, labels: {} })(
      meshRequest({ method: 'POST', path: '/echo', body: 'x' }),
    );
    const echoed = JSON.parse((await readBody(res)).toString());
    expect(echoed.headers['l5d-dst-port']).toBe('8080');
    await c.close();
  });
});
