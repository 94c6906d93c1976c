// HTTP/1.1 end to end: client -> outbound proxy -> inbound proxy -> app, with real undici and
// node:http clients over real sockets.
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { Readable } from 'node:stream';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunks, startHttp1App, type Http1App } from '../helpers/apps.ts';
import { startAppBehindTwoProxies, startTwoProxies, type AppBehindProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const AUTHORITY = 'web.test.svc.cluster.local:8080';
let mesh: AppBehindProxies<Http1App>;
let client: Client;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { clientIp: `${NET}.1`, serverIp: `${NET}.2`, authority: AUTHORITY });
  client = new Client(mesh.proxyUrl);
});
afterAll(async () => {
  await client?.close();
  await mesh?.close();
});

const send = (path: string, opts: Parameters<Client['request']>[0] extends infer O ? Partial<O> : never = {}) =>
  client.request({ path, method: 'GET', ...opts, headers: { host: AUTHORITY, ...(opts.headers as Record<string, string>) } } as never);

describe('HTTP/1.1 through two proxies', () => {
  it('GET with an empty body', async () => {
    const res = await send('/hello?x=1');
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('hello GET /hello?x=1');
  });

  it('POST with an empty body, then a 1 MB body, byte counts intact', async () => {
    const empty = await send('/count', { method: 'POST', body: '' });
    expect(JSON.parse(await empty.body.text()).bytes).toBe(0);
    const mb = Buffer.alloc(1024 * 1024, 'y');
    const res = await send('/count', { method: 'POST', body: mb });
    expect(JSON.parse(await res.body.text()).bytes).toBe(mb.length);
  });

  it('echoes a 1 MB streamed (chunked) body unchanged', async () => {
    const res = await send('/echo', { method: 'POST', body: Readable.from(chunks(1024 * 1024)) });
    expect(res.statusCode).toBe(200);
    const got = Buffer.from(await res.body.arrayBuffer());
    expect(got.length).toBe(1024 * 1024);
    expect(got.every((b) => b === 0x78)).toBe(true);
  });

  it('downloads 1 MB', async () => {
    const res = await send('/size/1048576');
    expect(res.headers['content-length']).toBe('1048576');
    expect((await res.body.arrayBuffer()).byteLength).toBe(1048576);
  });

  it('carries chunked response trailers', async () => {
    const withTrailers = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      httpRequest({ host: mesh.outbound.host, port: mesh.outbound.port, path: '/trailers', headers: { host: AUTHORITY, te: 'trailers' } }, (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => resolve({ body, trailers: r.trailers }));
      })
        .on('error', reject)
        .end();
    });
    expect(withTrailers.body).toBe('part one,part two');
    expect(withTrailers.trailers['x-checksum']).toBe('abc123');
  });

  it('reuses keep-alive connections on both sides', async () => {
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const before = mesh.app.connections;
    const reused: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ agent, host: mesh.outbound.host, port: mesh.outbound.port, path: `/k/${i}`, headers: { host: AUTHORITY } }, (r) => {
          r.resume();
          r.on('end', () => resolve());
        });
        req.on('error', reject);
        req.on('socket', () => reused.push(req.reusedSocket));
        req.end();
      });
    }
    agent.destroy();
    expect(reused.filter(Boolean).length).toBe(9);
    expect(mesh.app.connections - before).toBeLessThanOrEqual(1);
  });

  it('serves a pipelining client mixing requests with and without bodies on one connection', async () => {
    // (Not HEAD: undici closes a connection after a HEAD, in case its server sends a body.)
    const pipelined = new Client(mesh.proxyUrl, { pipelining: 8 });
    let connects = 0;
    pipelined.on('connect', () => connects++);
    try {
      const asks = Array.from({ length: 12 }, (_, i) => {
        const headers = { host: AUTHORITY };
        if (i % 3 === 1) return pipelined.request({ path: '/count', method: 'POST', headers, body: Buffer.alloc(i * 100, 'z') });
        if (i % 3 === 2) return pipelined.request({ path: '/count', method: 'DELETE', headers, body: '' });
        return pipelined.request({ path: `/p/${i}`, method: 'GET', headers });
      });
      const got = await Promise.all(asks.map(async (ask) => (await ask).body.text()));
      got.forEach((text, i) => {
        if (i % 3 === 0) expect(text).toBe(`hello GET /p/${i}`);
        else expect(JSON.parse(text)).toMatchObject(i % 3 === 1 ? { bytes: i * 100, method: 'POST' } : { bytes: 0, method: 'DELETE' });
      });
      expect(connects).toBe(1);
    } finally {
      await pipelined.close();
    }
  });

  it('keeps repeated request and response headers as separate fields', async () => {
    const res = await send('/headers', { headers: { 'x-rep': ['a', 'b'] } as never });
    const seen = JSON.parse(await res.body.text()) as { raw: string[] };
    const reps = seen.raw.filter((_, i) => i % 2 === 1 && seen.raw[i - 1]!.toLowerCase() === 'x-rep');
    expect(reps).toEqual(['a', 'b']);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-multi']).toEqual(['one', 'two']);
  });

  it('strips hop-by-hop headers and the l5d-dst-port the proxies add', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          host: mesh.outbound.host,
          port: mesh.outbound.port,
          path: '/headers',
          headers: { host: AUTHORITY, 'x-drop': 'yes', 'x-keep': 'yes', connection: 'keep-alive, x-drop', 'proxy-authorization': 'secret' },
        },
        (r) => {
          let text = '';
          r.on('data', (c) => (text += c));
          r.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const raw = (JSON.parse(body) as { raw: string[] }).raw.map((h) => h.toLowerCase());
    expect(raw).toContain('x-keep');
    expect(raw).not.toContain('x-drop');
    expect(raw).not.toContain('proxy-authorization');
    expect(raw).not.toContain('l5d-dst-port');
  });

  it('answers Expect: 100-continue and delivers the body', async () => {
    const result = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest({ host: mesh.outbound.host, port: mesh.outbound.port, path: '/count', method: 'POST', headers: { host: AUTHORITY, expect: '100-continue', 'content-length': 5 } }, (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => resolve({ continued, body }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('12345');
      });
      req.on('error', reject);
    });
    expect(result.continued).toBe(true);
    expect(JSON.parse(result.body).bytes).toBe(5);
  });

  it('HEAD, 204 and 304 have no body and keep their headers', async () => {
    const head = await send('/size/1000', { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('1000');
    expect(await head.body.text()).toBe('');
    const noContent = await send('/status/204');
    expect(noContent.statusCode).toBe(204);
    expect(await noContent.body.text()).toBe('');
    const notModified = await send('/status/304', { headers: { 'if-none-match': '"v1"' } });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.headers.etag).toBe('"v1"');
    expect(await notModified.body.text()).toBe('');
    // The connection still works after the bodiless responses.
    expect(await (await send('/after')).body.text()).toBe('hello GET /after');
  });

  it('counts requests on both proxies', async () => {
    const before = await mesh.outbound.metrics();
    expect(before).toMatch(/request_total\{[^}]*direction="outbound"/);
    expect(await mesh.inbound.metrics()).toMatch(/request_total\{[^}]*direction="inbound"/);
  });
});

describe('HTTP/1.1 cancellation through two proxies', () => {
  it('a client that leaves mid-request closes the app-side request, and the next request is served', async () => {
    const { createServer } = await import('node:http');
    const cancelled: string[] = [];
    const arrived: string[] = [];
    const upstream = createServer((req, res) => {
      arrived.push(req.url!);
      if (req.url === '/hang') {
        // Never answers: only the client's departure, carried through both proxies, ends it.
        res.on('close', () => cancelled.push(req.url!));
        return;
      }
      res.end('fine');
    });
    await new Promise<void>((r) => upstream.listen(0, `${NET}.32`, r));
    const authority = 'hang.test.svc.cluster.local:8080';
    const port = (upstream.address() as { port: number }).port;
    const pair = await startTwoProxies({ clientIp: `${NET}.31`, serverIp: `${NET}.32`, services: [{ authority, port }] });
    try {
      const leaving = new Client(pair.proxyUrl);
      const pending = leaving.request({ path: '/hang', method: 'GET', headers: { host: authority } }).catch((err: Error) => err);
      await expect.poll(() => arrived.includes('/hang'), { timeout: 10_000 }).toBe(true);
      await leaving.destroy(); // the client's connection goes, the request unanswered
      expect(await pending).toBeInstanceOf(Error);
      // Only the cancel carried through both proxies closes it: the app never answers /hang.
      await expect.poll(() => cancelled.includes('/hang'), { timeout: 10_000 }).toBe(true);

      const next = new Client(pair.proxyUrl);
      const res = await next.request({ path: '/after', method: 'GET', headers: { host: authority } });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('fine');
      await next.close();
    } finally {
      await pair.close();
      await new Promise<void>((r) => { upstream.closeAllConnections(); upstream.close(() => r()); });
    }
  });
});

