// The HTTP/1.1 edge's own connection handling, on raw sockets: a head too slow (408), an idle
// keep-alive connection closed, pipelined requests answered in order, requests with and without
// bodies in turn on one connection, `Expect: 100-continue`, a response the stack returns that
// HTTP/1.1 cannot carry (502), and a client's chunked trailers.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshRequest, MeshResponse, Service } from '../../../proxy/http/message.ts';
import { ProxyError } from '../../../proxy/errors.ts';
import { Drain } from '../../../proxy/server/drain.ts';
import { Http1Edge } from '../../../proxy/server/http1.ts';
import { RequestIds } from '../../../proxy/server/request-context.ts';

const HEADERS_TIMEOUT_MS = 300;
const KEEPALIVE_TIMEOUT_MS = 1_000;

async function readBody(req: MeshRequest): Promise<Buffer> {
  const parts: Buffer[] = [];
  if (req.body) for await (const part of req.body) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** `/wait/N` answers after N ms; `/bad-header` and `/bad-status` return what HTTP/1.1 cannot carry; else the request, echoed. */
const service: Service = async (req): Promise<MeshResponse> => {
  if (req.path === '/refuse') throw new ProxyError('FORBIDDEN', 'refused before its body was read');
  const body = await readBody(req);
  const wait = /^\/wait\/(\d+)/.exec(req.path);
  if (wait) await new Promise((resolve) => setTimeout(resolve, Number(wait[1])));
  if (req.path === '/bad-header') return { status: 200, headers: { 'x-injected': 'a\r\nset-cookie: evil=1' }, body: Buffer.from('no') };
  if (req.path === '/bad-status') return { status: 1000, headers: {}, body: null };
  if (req.path === '/64k') {
    served64k++;
    return { status: 200, headers: {}, body: Buffer.alloc(64 * 1024, 97) };
  }
  const trailers = req.trailers ? await req.trailers : undefined;
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ method: req.method, path: req.path, body: body.toString(), trailers: trailers ?? null })),
  };
};

let server: Server;
let served64k = 0;
let port: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  const edge = new Http1Edge({
    direction: 'inbound',
    service,
    logger: pino({ level: 'silent' }),
    ids: new RequestIds(),
    drain: new Drain(),
    maxHeaderBytes: 64 * 1024,
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
    // An echo "protocol" after a 101: what the client sent past its head comes back first.
    onUpgrade: (req, socket, head) => {
      // And the value of a header named like an Object property, as the tunnel handler read it.
      const named = Object.hasOwn(req.headers, 'constructor') ? `x-constructor: ${String(req.headers['constructor'])}\r\nx-host: ${req.headers.host}\r\n` : '';
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: upgrade\r\n${named}\r\n`);
      socket.write(head);
      socket.pipe(socket);
    },
  });
  server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    edge.accept(socket, { peer: `${socket.remoteAddress}:${socket.remotePort}`, tls: false });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A raw connection: what it has received so far, and when the edge closed it. */
function rawClient(): { socket: Socket; received: () => string; closed: Promise<number>; errors: string[] } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  const opened = Date.now();
  const errors: string[] = [];
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  return { socket, received: () => text, closed, errors };
}

/** The JSON bodies of the 200 responses in `text` (each framed by its content-length), in the order they came. */
function bodies(text: string): Array<{ path: string; method: string; body: string; trailers: Record<string, string> | null }> {
  const found = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return found;
    const head = text.slice(at, headEnd);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    const body = text.slice(headEnd + 4, headEnd + 4 + length);
    if (/^HTTP\/1.1 200 /.test(head)) found.push(JSON.parse(body));
    at = headEnd + 4 + length;
  }
}

describe('the HTTP/1.1 edge on raw sockets', () => {
  it('answers 408 and closes when a head does not arrive within --headers-timeout-ms', async () => {
    const c = rawClient();
    c.socket.write('GET /slow HTTP/1.1\r\nhost: a.test\r\n'); // never the blank line
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
    expect(c.received()).toMatch(new RegExp(`l5d-proxy-error: request head not complete within ${HEADERS_TIMEOUT_MS} ms`));
  });

  it('serves a head sent slowly in pieces that completes in time', async () => {
    const c = rawClient();
    c.socket.write('GET /pieces HTTP/1.1\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    c.socket.write('host: a.test\r\nconnection: close\r\n\r\n');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(bodies(c.received())[0]!.path).toBe('/pieces');
  });

  it('says its keep-alive timeout, and closes a connection idle for that long', async () => {
    const c = rawClient();
    c.socket.write('GET /first HTTP/1.1\r\nhost: a.test\r\n\r\n');
    const elapsed = await c.closed;
    const text = c.received();
    expect(text).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(text).toMatch(/\r\nConnection: keep-alive\r\nKeep-Alive: timeout=1\r\n/);
    expect(text).toMatch(/\r\nDate: \w{3}, \d{2} \w{3} \d{4} /);
    // Never before its time (the sweep errs late, by up to one of its intervals).
    expect(elapsed).toBeGreaterThanOrEqual(KEEPALIVE_TIMEOUT_MS - 50);
  });

  it('answers pipelined requests in the order they came, whatever order the stack finishes them in', async () => {
    const c = rawClient();
    c.socket.write(
      'GET /wait/200 HTTP/1.1\r\nhost: a.test\r\n\r\n' +
        'POST /wait/0 HTTP/1.1\r\nhost: a.test\r\ncontent-length: 5\r\n\r\nhello' +
        'GET /wait/100 HTTP/1.1\r\nhost: a.test\r\n\r\n' +
        'GET /last HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n',
    );
    await c.closed;
    const got = bodies(c.received());
    expect(got.map((b) => b.path)).toEqual(['/wait/200', '/wait/0', '/wait/100', '/last']);
    expect(got[1]).toMatchObject({ method: 'POST', body: 'hello' });
    expect(c.received().match(/HTTP\/1.1 200 OK/g)).toHaveLength(4);
    expect(c.received()).toMatch(/Connection: close\r\n/);
  });

  it('serves requests with and without bodies in turn on one connection, a body ending in a later read than its head', async () => {
    const c = rawClient();
    const answered = (n: number) => expect.poll(() => c.received().match(/HTTP\/1.1 200 OK/g)?.length ?? 0, { timeout: 5_000 }).toBe(n);
    const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
    c.socket.write('GET /one HTTP/1.1\r\nhost: a.test\r\n\r\n');
    await answered(1);
    c.socket.write('POST /two HTTP/1.1\r\nhost: a.test\r\ncontent-length: 11\r\n\r\nhello');
    await pause();
    c.socket.write(' world');
    await answered(2);
    c.socket.write('POST /three HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
    await pause();
    c.socket.write('0\r\n\r\n'); // the chunked body's end alone in its read
    await answered(3);
    // A body of length 0, and a request pipelined behind it in the same read.
    c.socket.write('POST /four HTTP/1.1\r\nhost: a.test\r\ncontent-length: 0\r\n\r\nGET /five HTTP/1.1\r\nhost: a.test\r\n\r\n');
    await answered(5);
    c.socket.write('PUT /six HTTP/1.1\r\nhost: a.test\r\ncontent-length: 3\r\nconnection: close\r\n\r\nxyz');
    await c.closed;
    expect(bodies(c.received()).map((b) => [b.method, b.path, b.body])).toEqual([
      ['GET', '/one', ''],
      ['POST', '/two', 'hello world'],
      ['POST', '/three', 'abc'],
      ['POST', '/four', ''],
      ['GET', '/five', ''],
      ['PUT', '/six', 'xyz'],
    ]);
  });

  it('answers Expect: 100-continue before the body is sent, then the request', async () => {
    const c = rawClient();
    c.socket.write('POST /upload HTTP/1.1\r\nhost: a.test\r\ncontent-length: 11\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n');
    await expect.poll(() => c.received(), { timeout: 5_000 }).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.socket.write('hello world');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 OK\r\n/);
    expect(bodies(c.received())[0]).toMatchObject({ path: '/upload', body: 'hello world' });
  });

  it('answers 417 to an expectation it cannot meet', async () => {
    const c = rawClient();
    c.socket.write('POST /upload HTTP/1.1\r\nhost: a.test\r\ncontent-length: 5\r\nexpect: something-else\r\n\r\n');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1.1 417 Expectation Failed\r\n/);
    expect(c.received()).toMatch(/l5d-proxy-error: expectation "something-else" cannot be met/);
    // Its own code, not BAD_REQUEST's: the request is well formed, the expectation is what cannot be met.
    expect(c.received()).toMatch(/\r\n\r\nEXPECTATION_FAILED: expectation "something-else" cannot be met\n$/);
  });

  for (const [what, head, status] of [
    ['an expectation it cannot meet', 'POST /upload HTTP/1.1\r\nhost: a.test\r\nexpect: something-else\r\n', 417],
    ['a request the stack refuses before reading its body', 'POST /refuse HTTP/1.1\r\nhost: a.test\r\n', 403],
  ] as const) {
    it(`answers ${what} whole when the client sent a large body at once: the rest is read and dropped, then the connection ends`, async () => {
      const c = rawClient();
      const body = Buffer.alloc(4 * 1024 * 1024, 120);
      // Written at once, before any answer: more than the socket buffers hold, so the edge answers
      // with most of the body still unread. Closing then would reset the connection, and a client
      // whose kernel takes the reset before it reads loses the answer.
      c.socket.write(`${head}content-length: ${body.length}\r\n\r\n`);
      c.socket.write(body);
      c.socket.end();
      await c.closed;
      expect(c.errors).toEqual([]);
      expect(c.received()).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(c.received()).toMatch(/connection: close\r\n/i);
      const length = Number(/content-length: (\d+)/i.exec(c.received())?.[1]);
      expect(c.received().length - c.received().indexOf('\r\n\r\n') - 4).toBe(length);
    });
  }

  it('closes a refused connection whose client stops sending its body but never closes, once it has been quiet 5 s', async () => {
    // Half-open: the client keeps its side open after the edge's FIN, as a client that neither
    // finishes its body nor reads to the end might.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    await new Promise((resolve) => socket.once('connect', resolve));
    const edgeSide = [...sockets].find((s) => s.remotePort === socket.localPort)!;
    const edgeClosed = new Promise<number>((resolve) => edgeSide.once('close', () => resolve(Date.now())));
    socket.write('POST /refuse HTTP/1.1\r\nhost: a.test\r\ncontent-length: 100000\r\n\r\n');
    // Taken from the write's callback, so no later than the edge last heard from the client (and
    // not from the FIN's arrival, which a loaded machine can delay past the edge's own activity).
    const lastSent = await new Promise<number>((resolve) => socket.write(Buffer.alloc(1000, 120), () => resolve(Date.now())));
    await new Promise((resolve) => socket.once('end', resolve)); // the answer, then the edge's FIN
    expect(text).toMatch(/^HTTP\/1.1 403 Forbidden\r\n[^]*connection: close\r\n/i);
    const quiet = (await edgeClosed) - lastSent;
    expect(quiet).toBeGreaterThanOrEqual(4_900);
    // Far under the 30 s cap, with room for a loaded machine between the client's last bytes and the edge's.
    expect(quiet).toBeLessThan(7_000);
    socket.destroy();
  }, 20_000);

  it('answers 502 for a response header or status the stack returns that HTTP/1.1 cannot carry, and keeps serving', async () => {
    const c = rawClient();
    c.socket.write('GET /bad-header HTTP/1.1\r\nhost: a.test\r\n\r\nGET /bad-status HTTP/1.1\r\nhost: a.test\r\n\r\nGET /after HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
    await c.closed;
    const text = c.received();
    expect(text).not.toMatch(/evil/);
    const statuses = [...text.matchAll(/HTTP\/1.1 (\d+) /g)].map((m) => m[1]);
    expect(statuses).toEqual(['502', '502', '200']);
    expect(text).toMatch(/l5d-proxy-error: response from upstream cannot be written: header "x-injected"/);
    expect(text).toMatch(/l5d-proxy-error: response from upstream cannot be written: invalid status code 1000/);
  });

  it("hands a chunked request's trailers to the stack", async () => {
    const c = rawClient();
    c.socket.write('POST /trailers HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n');
    await c.closed;
    expect(bodies(c.received())[0]).toMatchObject({ body: 'hello', trailers: { 'x-checksum': 'abc' } });
  });

  it('reads a header or trailer named like an Object property (constructor, __proto__) without throwing, and serves on', async () => {
    const c = rawClient();
    c.socket.write(
      'POST /proto HTTP/1.1\r\nhost: a.test\r\nconstructor: a\r\n__proto__: b\r\ntoString: c\r\ntostring: d\r\ntransfer-encoding: chunked\r\n\r\n' +
        '2\r\nhi\r\n0\r\nconstructor: x\r\n__proto__: y\r\n\r\n',
    );
    await expect.poll(() => bodies(c.received()).length, { timeout: 5_000 }).toBe(1);
    expect(bodies(c.received())[0]).toMatchObject({ path: '/proto', body: 'hi', trailers: { constructor: 'x' } });
    const up = rawClient();
    up.socket.write('GET /chat HTTP/1.1\r\nhost: a.test\r\nupgrade: echo\r\nconnection: upgrade\r\nconstructor: y\r\n\r\n');
    await expect.poll(() => up.received(), { timeout: 5_000 }).toMatch(/\r\n\r\n$/);
    expect(up.received()).toMatch(/\r\nx-constructor: y\r\n/);
    c.socket.destroy();
    up.socket.destroy();
  });

  it('hands an Upgrade over with the first of two Host headers, as a plain request is routed by', async () => {
    const up = rawClient();
    up.socket.write('GET /chat HTTP/1.1\r\nhost: a.test\r\nhost: evil.test\r\nupgrade: echo\r\nconnection: upgrade\r\nconstructor: y\r\n\r\n');
    await expect.poll(() => up.received(), { timeout: 5_000 }).toMatch(/\r\n\r\n$/);
    expect(up.received()).toMatch(/\r\nx-host: a.test\r\n/);
    up.socket.destroy();
  });

  it('hands an Upgrade over after the request before it is answered, with the bytes sent past its head', async () => {
    const c = rawClient();
    c.socket.write('GET /wait/100 HTTP/1.1\r\nhost: a.test\r\n\r\nGET /chat HTTP/1.1\r\nhost: a.test\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\nfirst bytes;');
    await expect.poll(() => c.received(), { timeout: 5_000 }).toMatch(/first bytes;$/);
    c.socket.write('then more');
    await expect.poll(() => c.received(), { timeout: 5_000 }).toMatch(/first bytes;then more$/);
    const text = c.received();
    expect(bodies(text)[0]!.path).toBe('/wait/100');
    expect(text.indexOf('HTTP/1.1 200 OK')).toBeLessThan(text.indexOf('HTTP/1.1 101 Switching Protocols'));
    c.socket.destroy();
  });

  it('does not time out a head it stopped reading itself (16 pipelined requests wait before it)', async () => {
    const c = rawClient();
    // The first answer takes twice the 300 ms head timeout, with 16 requests waiting behind it.
    const waiting = 'GET /wait/0 HTTP/1.1\r\nhost: a.test\r\n\r\n'.repeat(16);
    c.socket.write(`GET /wait/600 HTTP/1.1\r\nhost: a.test\r\n\r\n${waiting}GET /last HTTP/1.1\r\nhost: a.test\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    c.socket.write('connection: close\r\n\r\n');
    await c.closed;
    const answered = bodies(c.received());
    expect(answered).toHaveLength(18);
    expect(answered[17]!.path).toBe('/last');
  });

  it('stops reading pipelined requests while the client reads none of its answers, and serves them all once it does', async () => {
    const c = rawClient();
    c.socket.pause();
    const count = 600;
    const request = `GET /64k HTTP/1.1\r\nhost: a.test\r\nx-pad: ${'p'.repeat(2048)}\r\n\r\n`;
    c.socket.write(request.repeat(count));
    // The edge has begun serving (without it, 'less than half' below passes for an edge that served nothing),
    await expect.poll(() => served64k, { timeout: 10_000 }).toBeGreaterThan(0);
    // then every chance to serve more while nobody reads.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // A few MB of answers fit in the sockets' buffers; the rest wait for the client to read.
    expect(served64k).toBeLessThan(count / 2);
    let bytes = 0;
    c.socket.removeAllListeners('data');
    c.socket.on('data', (d: Buffer) => (bytes += d.length));
    c.socket.resume();
    await expect.poll(() => served64k, { timeout: 10_000 }).toBe(count);
    await expect.poll(() => bytes, { timeout: 10_000 }).toBeGreaterThan(count * 64 * 1024);
    c.socket.destroy();
  });

  it('a client that vanishes mid-body leaves the edge serving others', async () => {
    const c = rawClient();
    c.socket.write('POST /upload HTTP/1.1\r\nhost: a.test\r\ncontent-length: 100\r\n\r\nonly part');
    await new Promise((resolve) => setTimeout(resolve, 50));
    c.socket.destroy();
    const next = rawClient();
    next.socket.write('GET /next HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
    await next.closed;
    expect(bodies(next.received())[0]!.path).toBe('/next');
  });
});
