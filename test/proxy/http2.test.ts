// HTTP/2 (h2c, prior knowledge) end to end with node:http2: client -> outbound -> inbound -> h2 app.
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunks, startH2App } from '../helpers/apps.ts';
import { startAppBehindTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const AUTHORITY = 'h2.test.svc.cluster.local:8443';
let mesh: TwoProxies;
let session: ClientHttp2Session;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startH2App, { clientIp: `${NET}.3`, serverIp: `${NET}.4`, authority: AUTHORITY });
  session = connect(`http://${mesh.outbound.host}:${mesh.outbound.port}`);
  session.on('error', () => {});
});
afterAll(async () => {
  session?.close();
  await mesh?.close();
});

interface H2Result {
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers?: IncomingHttpHeaders;
}

function call(path: string, opts: { method?: string; body?: Iterable<Buffer>; trailers?: Record<string, string> } = {}): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ':path': path, ':method': opts.method ?? (opts.body ? 'POST' : 'GET'), ':authority': AUTHORITY },
      { endStream: !opts.body, waitForTrailers: opts.trailers !== undefined },
    );
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const parts: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => resolve({ headers, body: Buffer.concat(parts), trailers }));
    stream.on('error', reject);
    if (opts.trailers) stream.once('wantTrailers', () => stream.sendTrailers(opts.trailers!));
    if (opts.body) {
      const it = opts.body[Symbol.iterator]();
      const pump = () => {
        for (let n = it.next(); !n.done; n = it.next()) if (!stream.write(n.value)) return void stream.once('drain', pump);
        stream.end();
      };
      pump();
    }
  });
}

describe('HTTP/2 through two proxies', () => {
  it('a simple GET', async () => {
    const r = await call('/hi');
    expect(r.headers[':status']).toBe(200);
    expect(r.body.toString()).toBe('h2 hello GET /hi');
  });

  it('100 concurrent streams on one client connection', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call(`/n/${i}`)));
    results.forEach((r, i) => expect(r.body.toString()).toBe(`h2 hello GET /n/${i}`));
  });

  it('large bodies both ways (8 MB up and echoed back, 16 MB down)', async () => {
    const up = await call('/echo', { body: chunks(8 * 1024 * 1024) });
    expect(up.body.length).toBe(8 * 1024 * 1024);
    expect(up.body.every((b) => b === 0x78)).toBe(true);
    const down = await call(`/size/${16 * 1024 * 1024}`);
    expect(down.body.length).toBe(16 * 1024 * 1024);
  });

  it('streams both ways: each request chunk comes back echoed before the client sends the next', async () => {
    // Lockstep: a proxy that held a chunk (buffering the request body or the response) would
    // leave the client waiting for an echo that never comes, and the test would time out.
    const stream = session.request({ ':path': '/echo', ':method': 'POST', ':authority': AUTHORITY });
    stream.on('error', () => {});
    const echoed: string[] = [];
    let waiting: (() => void) | undefined;
    stream.on('data', (c: Buffer) => {
      echoed.push(c.toString());
      waiting?.();
    });
    for (let i = 0; i < 5; i++) {
      const event = `data: event ${i}\n\n`;
      const back = new Promise<void>((resolve) => (waiting = resolve));
      stream.write(event);
      await back;
      expect(echoed.join('')).toContain(event);
    }
    const ended = new Promise((resolve) => stream.on('end', resolve));
    stream.end();
    await ended;
    expect(echoed.join('')).toBe([0, 1, 2, 3, 4].map((i) => `data: event ${i}\n\n`).join(''));
  });

  it('request trailers reach the app and response trailers come back', async () => {
    const r = await call('/echo', { body: [Buffer.from('with trailers')], trailers: { 'x-request-trailer': 'sent-by-client' } });
    expect(r.body.toString()).toBe('with trailers');
    expect(r.trailers?.['x-echo-trailer']).toBe('sent-by-client');
  });

  it('an upstream reset mid-response reaches the client as a stream reset, and the session lives on', async () => {
    const outcome = await new Promise<{ data: string; err?: Error & { code?: string } }>((resolve) => {
      const stream = session.request({ ':path': '/rst', ':authority': AUTHORITY });
      let data = '';
      stream.on('data', (c) => (data += c));
      stream.on('error', (err) => resolve({ data, err }));
      stream.on('close', () => resolve({ data, err: stream.rstCode ? Object.assign(new Error(`rst ${stream.rstCode}`), { code: 'RST' }) : undefined }));
      stream.end();
    });
    expect(outcome.data).toBe('partial');
    expect(outcome.err).toBeInstanceOf(Error);
    expect((await call('/after-rst')).body.toString()).toBe('h2 hello GET /after-rst');
  });

  it('the :authority reaches the app as the client named it', async () => {
    const r = await call('/echo', { body: [Buffer.from('a')] });
    expect(r.headers['x-seen-authority']).toBe(AUTHORITY);
  });
});
