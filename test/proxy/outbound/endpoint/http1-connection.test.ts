// The HTTP/1.1 endpoint client's own edges (http1-pool.ts, http1-connection.ts), against a raw
// TCP server that writes exactly the bytes each test gives it: a response in pieces, garbage, a
// close mid-body, an idle keep-alive connection closed under the client, an answer before the
// request body ended, HEAD, 1xx, trailers, `Connection: close`, and a slow reader's backpressure.
import net, { type AddressInfo } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../../api/destination-types.ts';
import type { MeshResponse } from '../../../../proxy/http/message.ts';
import { Http1Client } from '../../../../proxy/outbound/endpoint/http1-client.ts';
import { endpointTarget } from '../../../../proxy/outbound/endpoint/target.ts';
import { streamed } from '../../../helpers/fake-request.ts';
import { meshRequest, readBody, recordConnection, rejection, writeAsTaken, type RecordedConnection } from './fixtures/harness.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Conn = RecordedConnection;

/** A TCP server on port 0 that hands each connection to `onConnection` and writes nothing by itself. */
async function rawServer(onConnection: (conn: Conn, index: number) => void): Promise<{ address: string; conns: Conn[] }> {
  const conns: Conn[] = [];
  const server = net.createServer((socket) => {
    const conn = recordConnection(socket);
    conns.push(conn);
    onConnection(conn, conns.length - 1);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const c of conns) c.socket.destroy();
    return new Promise((r) => server.close(r));
  });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, conns };
}

/** The clients' log lines (debug and up), as an operator would read them. */
const logLines: Array<Record<string, unknown>> = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  }),
);

function client(address: string, connections = 4): Http1Client {
  const c = new Http1Client(endpointTarget({ address } as Endpoint, undefined), { connections, idleTimeoutMs: 30_000, connectTimeoutMs: 10_000, onConnection: () => {}, logger });
  cleanups.push(() => c.destroy());
  return c;
}

/** Answers every request on the connection with a small keep-alive response, once its head has come. */
function answerEach(conn: Conn, body = 'ok'): void {
  let answered = 0;
  conn.socket.on('data', () => {
    const heads = conn.received().match(/ HTTP\/1\.1\r\n/g)?.length ?? 0;
    for (; answered < heads; answered++) conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  });
}

const tick = () => new Promise((r) => setImmediate(r));

/**
 * A server whose first connection answers `GET /first` ("first"), then closes as soon as a request
 * starting with `dropped` arrives on it, unanswered; every later connection answers "fresh".
 */
function dropsOnItsFirstConnection(dropped: string) {
  return rawServer(async (conn, index) => {
    if (index > 0) return answerEach(conn, 'fresh');
    await conn.receivedUntil('GET /first');
    conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst');
    await conn.receivedUntil(dropped);
    conn.socket.destroy();
  });
}

/** How many requests' cancel hooks (http/cancel.ts) a signal still holds. */
function cancelHooksOn(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'mesh.cancel-hooks');
  if (key === undefined) return 0;
  const hooks = (signal as unknown as Record<symbol, { first?: unknown; rest?: Set<unknown> }>)[key]!;
  return (hooks.first === undefined ? 0 : 1) + (hooks.rest?.size ?? 0);
}

describe('the HTTP/1.1 endpoint client, byte by byte', () => {
  it('writes the request head as undici did, and reads a response that comes in pieces', async () => {
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('\r\n\r\n');
      const response = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Length: 11\r\n\r\nhello world';
      for (const piece of response.match(/.{1,7}/gs)!) {
        conn.socket.write(piece);
        await tick();
      }
    });
    const c = client(srv.address);
    const res = await c.service(meshRequest({ path: '/p?q=1', headers: { 'x-a': '1', 'x-list': ['one', 'two'] } }));
    expect(res.status).toBe(200);
    expect(res.headers).toEqual({ 'content-type': 'text/plain', 'x-multi': ['a', 'b'], 'content-length': '11' });
    expect((await readBody(res)).toString()).toBe('hello world');
    expect(srv.conns[0]!.received()).toBe('GET /p?q=1 HTTP/1.1\r\nhost: svc.test:80\r\nconnection: keep-alive\r\nx-a: 1\r\nx-list: one\r\nx-list: two\r\n\r\n');
  });

  it('hands on a body that came in the same read as its head as one Buffer, and one still arriving as a stream', async () => {
    let sendLate!: () => void;
    const headTaken = new Promise<void>((r) => (sendLate = r));
    const { address } = await rawServer(async (conn) => {
      await conn.receivedUntil('GET /whole');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nwhole');
      await conn.receivedUntil('GET /late');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n');
      // Only once the client has handed on the head: a timer could fire, on a loaded machine,
      // before the client read the head, and the two would come in one read.
      await headTaken;
      conn.socket.write('late');
    });
    const c = client(address, 1);
    const whole = await c.service(meshRequest({ path: '/whole' }));
    expect(Buffer.isBuffer(whole.body)).toBe(true);
    expect(String(whole.body)).toBe('whole');
    const late = await c.service(meshRequest({ path: '/late' }));
    expect(Buffer.isBuffer(late.body)).toBe(false);
    sendLate();
    expect(String(await readBody(late))).toBe('late');
  });

  it('frames a streamed body by its content-length when given, else in chunks, and says content-length: 0 for an empty POST', async () => {
    const srv = await rawServer((conn) => answerEach(conn));
    const c = client(srv.address, 1);
    const given = new PassThrough();
    const sent = c.service(meshRequest({ method: 'PUT', path: '/a', headers: { 'content-length': '5' }, body: given }));
    given.end('hello');
    await readBody(await sent);
    const chunked = new PassThrough();
    const sent2 = c.service(meshRequest({ method: 'POST', path: '/b', body: chunked }));
    chunked.write('abc');
    await srv.conns[0]!.receivedUntil('abc');
    chunked.end('de');
    await readBody(await sent2);
    await readBody(await c.service(meshRequest({ method: 'POST', path: '/c' })));
    expect(srv.conns).toHaveLength(1);
    expect(srv.conns[0]!.received()).toBe(
      'PUT /a HTTP/1.1\r\nhost: svc.test:80\r\nconnection: keep-alive\r\ncontent-length: 5\r\n\r\nhello' +
        'POST /b HTTP/1.1\r\nhost: svc.test:80\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
        'POST /c HTTP/1.1\r\nhost: svc.test:80\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n',
    );
  });

  it('refuses a trailer it cannot write safely, as BAD_REQUEST naming it as a trailer', async () => {
    const srv = await rawServer((conn) => answerEach(conn));
    const c = client(srv.address);
    const err = await rejection(c.service(meshRequest({ method: 'POST', body: Readable.from([Buffer.from('abc')]), trailers: Promise.resolve({ 'x-sum': 'a\r\nx-injected: 1' }) })));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(/cannot send the request: invalid value for trailer x-sum/);
  });

  it('refuses a header it cannot write safely, as BAD_REQUEST, with nothing sent', async () => {
    const srv = await rawServer((conn) => answerEach(conn));
    const c = client(srv.address);
    const err = await rejection(c.service(meshRequest({ headers: { 'x-evil': 'a\r\nx-injected: 1' } })));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(/cannot send the request: invalid value for header x-evil/);
    const bad = await rejection(c.service(meshRequest({ path: '/a b' })));
    expect(bad.code).toBe('BAD_REQUEST');
    // The connection is still good, and nothing of the refused requests reached it.
    expect((await readBody(await c.service(meshRequest({ path: '/ok' })))).toString()).toBe('ok');
    expect(srv.conns.map((x) => x.received()).join('')).toBe('GET /ok HTTP/1.1\r\nhost: svc.test:80\r\nconnection: keep-alive\r\n\r\n');
  });

  it('fails a request answered with garbage with a clear error, and carries on with a fresh connection', async () => {
    const srv = await rawServer(async (conn, index) => {
      if (index > 0) return answerEach(conn);
      await conn.receivedUntil('\r\n\r\n');
      conn.socket.write('SMTP ready\r\n\r\n');
    });
    const c = client(srv.address);
    const err = await rejection(c.service(meshRequest()));
    expect(err.code).toBe('UPSTREAM_RESET');
    expect(err.message).toMatch(/^endpoint 127\.0\.0\.1:\d+: invalid HTTP response \(.+, HPE_\w+\)$/);
    expect((await readBody(await c.service(meshRequest()))).toString()).toBe('ok');
    expect(srv.conns).toHaveLength(2);
  });

  it('refuses a response framed two ways (content-length with chunked, two content-lengths) or with a bare CR in a header, and sends nothing more on that connection', async () => {
    const answers = [
      ['HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', /Transfer-Encoding can't be present with Content-Length/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!', /Duplicate Content-Length/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok', /Duplicate Content-Length/],
      ['HTTP/1.1 200 OK\r\nx-a: 1\rx-b: 2\r\ncontent-length: 2\r\n\r\nok', /HPE_/],
    ] as const;
    const srv = await rawServer(async (conn, index) => {
      await conn.receivedUntil('\r\n\r\n');
      conn.socket.write(answers[index]![0]); // and the connection is left open: the client must close it
    });
    const c = client(srv.address, 1);
    for (const [, reason] of answers) {
      const err = await rejection(c.service(meshRequest()).then(readBody));
      expect(err.code).toBe('UPSTREAM_RESET');
      expect(err.message).toMatch(/^endpoint 127\.0\.0\.1:\d+: invalid HTTP response \(/);
      expect(err.message).toMatch(reason);
    }
    // Each on a connection of its own: none was reused after what it carried.
    expect(srv.conns).toHaveLength(answers.length);
    for (const conn of srv.conns) expect(conn.received().match(/ HTTP\/1\.1\r\n/g)).toHaveLength(1);
  });

  it('says the connection closed before the response, at the head or in the body', async () => {
    const srv = await rawServer(async (conn, index) => {
      await conn.receivedUntil('\r\n\r\n');
      if (index === 0) conn.socket.destroy();
      else if (index === 1) conn.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part');
      else conn.socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\nonly part\r\n');
    });
    const c = client(srv.address);
    const early = await rejection(c.service(meshRequest()));
    expect(early.code).toBe('UPSTREAM_RESET');
    expect(early.message).toMatch(/connection closed before the response completed/);
    const res = await c.service(meshRequest());
    expect(res.status).toBe(200);
    const cut = await rejection(readBody(res));
    expect(cut.code).toBe('UPSTREAM_RESET');
    expect(cut.message).toMatch(/^endpoint 127\.0\.0\.1:\d+: connection closed before the response body completed$/);
    const chunks = await rejection(readBody(await c.service(meshRequest())));
    expect(chunks.code).toBe('UPSTREAM_RESET');
    expect(chunks.message).toMatch(/^endpoint 127\.0\.0\.1:\d+: connection closed before the response body completed$/);
  });

  it('reads a body that runs until the server closes the connection', async () => {
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('\r\n\r\n');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ');
      await tick();
      conn.socket.end('the close');
    });
    const c = client(srv.address);
    const res = await c.service(meshRequest());
    expect((await readBody(res)).toString()).toBe('until the close');
    expect((await readBody(await c.service(meshRequest()))).toString()).toBe('until the close');
    expect(srv.conns).toHaveLength(2); // a body ended by the close leaves no connection to reuse
  });

  it('sends a request again on a fresh connection when the server closed the idle kept-alive one as it went out', async () => {
    // The second request arrives as the server closes the connection: it is never answered.
    const srv = await dropsOnItsFirstConnection('GET /second');
    const c = client(srv.address, 1);
    // One signal for both, as an HTTP/1 client connection's is for all of its requests.
    const signal = new AbortController().signal;
    expect((await readBody(await c.service(meshRequest({ path: '/first', signal })))).toString()).toBe('first');
    const second = meshRequest({ path: '/second', signal });
    expect((await readBody(await c.service(second))).toString()).toBe('fresh');
    expect(srv.conns).toHaveLength(2);
    expect(srv.conns[1]!.received()).toMatch(/^GET \/second /);
    expect(logLines.filter((l) => l['request'] === second.ctx.id).map((l) => [l['level'], l['why']])).toEqual([
      [20, 'the endpoint closed the reused connection before answering: it had closed it as idle as the request went out'],
    ]);
    // Both requests are over: nothing of theirs is still hooked to the signal, which outlives them.
    expect(cancelHooksOn(signal)).toBe(0);
  });

  it('sends a POST again on a fresh connection when the server closed the reused one before a byte of the POST went out', async () => {
    const srv = await rawServer(async (conn, index) => {
      if (index > 0) {
        await conn.receivedUntil('\r\n0\r\n\r\n');
        conn.socket.write('HTTP/1.1 201 Created\r\ncontent-length: 7\r\n\r\ncreated');
        return;
      }
      await conn.receivedUntil('GET /first');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const c = client(srv.address, 1);
    await readBody(await c.service(meshRequest({ path: '/first' })));
    // The POST takes the kept-alive connection; its head waits for the body's first bytes, and
    // meanwhile the server closes the connection (as idle: it has received nothing more).
    const body = new PassThrough();
    const post = c.service(meshRequest({ method: 'POST', path: '/orders', body }));
    await tick();
    srv.conns[0]!.socket.destroy();
    await expect.poll(() => srv.conns.length).toBe(2);
    body.end('{"n":1}');
    const res = await post;
    expect(res.status).toBe(201);
    expect((await readBody(res)).toString()).toBe('created');
    expect(srv.conns[0]!.received()).not.toContain('POST');
    expect(srv.conns[1]!.received()).toMatch(/^POST \/orders HTTP\/1\.1\r\n[^]*\r\n\r\n7\r\n\{"n":1\}\r\n0\r\n\r\n$/);
  });

  it('does not send a POST again after the server dropped it unanswered (it may have been carried out), unless it carries an idempotency key', async () => {
    const srv = await dropsOnItsFirstConnection('POST /pay');
    const c = client(srv.address, 1);
    await readBody(await c.service(meshRequest({ path: '/first' })));
    const err = await rejection(c.service(meshRequest({ method: 'POST', path: '/pay' })));
    expect(err.code).toBe('UPSTREAM_RESET');
    expect(err.message).toMatch(/connection closed before the response completed/);
    expect(srv.conns).toHaveLength(1);
    // The same request with an idempotency key (the caller says a repeat is harmless) goes again.
    const srv2 = await dropsOnItsFirstConnection('POST /pay');
    const c2 = client(srv2.address, 1);
    await readBody(await c2.service(meshRequest({ path: '/first' })));
    const res = await c2.service(meshRequest({ method: 'POST', path: '/pay', headers: { 'idempotency-key': 'order-7' } }));
    expect((await readBody(res)).toString()).toBe('fresh');
    expect(srv2.conns[1]!.received()).toMatch(/^POST \/pay [^]*idempotency-key: order-7\r\n/);
  });

  it('sends a request again on a fresh connection when the reused one answers it with the server\'s idle-timeout 408 and closes', async () => {
    // The server timed the kept-alive connection out as the request went out: its 408 and close
    // cross the request on the wire. The app never saw the request.
    const timedOut = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';
    const srv = await rawServer(async (conn, index) => {
      if (index > 0) return answerEach(conn, 'fresh');
      await conn.receivedUntil('GET /first');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst');
      await conn.receivedUntil('/second');
      conn.socket.end(timedOut);
    });
    const c = client(srv.address, 1);
    expect((await readBody(await c.service(meshRequest({ path: '/first' })))).toString()).toBe('first');
    const second = meshRequest({ path: '/second', authority: 'web.test:8080' });
    const res = await c.service(second);
    expect([res.status, (await readBody(res)).toString()]).toEqual([200, 'fresh']);
    expect(srv.conns).toHaveLength(2);
    expect(srv.conns[1]!.received()).toMatch(/^GET \/second /);
    // The caller saw nothing of it; the operator reading debug logs does, with the request's id.
    expect(logLines.filter((l) => l['request'] === second.ctx.id)).toEqual([
      expect.objectContaining({
        level: 20,
        authority: 'web.test:8080',
        msg: `GET web.test:8080 to endpoint ${srv.address}: sent again on a fresh connection (the endpoint answered 408 and closed the reused connection: it had timed the connection out as idle, so the request never reached the app)`,
      }),
    ]);
  });

  it('drops an idle connection the server times out with a 408, and sends the next request on a fresh one', async () => {
    const srv = await rawServer(async (conn, index) => {
      if (index > 0) return answerEach(conn, 'fresh');
      await conn.receivedUntil('GET /first');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst');
      conn.socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    const c = client(srv.address, 1);
    expect((await readBody(await c.service(meshRequest({ path: '/first' })))).toString()).toBe('first');
    await new Promise((r) => srv.conns[0]!.socket.once('close', r));
    const res = await c.service(meshRequest({ path: '/second' }));
    expect([res.status, (await readBody(res)).toString()]).toEqual([200, 'fresh']);
    expect(srv.conns[0]!.received()).not.toContain('/second');
  });

  it('hands on a 408 it cannot tell from the app\'s: on a first exchange, one that keeps the connection, or to a POST that may have been carried out', async () => {
    const answers: Record<string, string> = {
      '/new': 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 4\r\n\r\nslow',
      '/kept': 'HTTP/1.1 408 Request Timeout\r\ncontent-length: 4\r\n\r\nslow',
      '/pay': 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 4\r\n\r\nslow',
    };
    const srv = await rawServer((conn) => {
      let answered = 0;
      conn.socket.on('data', () => {
        const paths = [...conn.received().matchAll(/^[A-Z]+ (\/\w+) HTTP\/1\.1\r\n/gm)].map((m) => m[1]!);
        for (; answered < paths.length; answered++) {
          const answer = answers[paths[answered]!] ?? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
          if (answer.includes('connection: close')) conn.socket.end(answer);
          else conn.socket.write(answer);
        }
      });
    });
    const c = client(srv.address, 1);
    // Not reused: the server saw this request and timed it out itself.
    const fresh = await c.service(meshRequest({ path: '/new' }));
    expect([fresh.status, (await readBody(fresh)).toString()]).toEqual([408, 'slow']);
    // Reused, but the 408 keeps the connection open: an answer, not an idle connection's farewell.
    await readBody(await c.service(meshRequest({ path: '/warm' })));
    const kept = await c.service(meshRequest({ path: '/kept' }));
    expect([kept.status, (await readBody(kept)).toString()]).toEqual([408, 'slow']);
    // Reused and closing, but a POST with no idempotency key: the server may have taken it.
    const pay = await c.service(meshRequest({ method: 'POST', path: '/pay' }));
    expect([pay.status, (await readBody(pay)).toString()]).toEqual([408, 'slow']);
    expect(srv.conns).toHaveLength(2);
  });

  it('close() waits for the request in flight, however many times it is called', async () => {
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('GET /slow');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n');
      await conn.receivedUntil('never'); // the body's rest comes when the test says so
    });
    const c = client(srv.address, 1);
    const res = await c.service(meshRequest({ path: '/slow' }));
    const done: string[] = [];
    const first = c.close().then(() => done.push('first'));
    const second = c.close().then(() => done.push('second'));
    await tick();
    expect(done).toEqual([]);
    srv.conns[0]!.socket.write('slow');
    expect((await readBody(res)).toString()).toBe('slow');
    await Promise.all([first, second]);
    expect(done.sort()).toEqual(['first', 'second']);
  });

  it('does not send on a kept-alive connection the server has closed, and retries only once', async () => {
    const srv = await rawServer(async (conn, index) => {
      await conn.receivedUntil('\r\n\r\n');
      if (index === 0) {
        conn.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        return;
      }
      if (index === 2) return conn.socket.destroy(); // the retry's fresh connection fails too
      // Connection 1 answers its first request, then drops the next unanswered.
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      await conn.receivedUntil('GET /twice');
      conn.socket.destroy();
    });
    const c = client(srv.address, 1);
    await readBody(await c.service(meshRequest({ path: '/one' })));
    // The server closed connection 0 after answering: the next request opens connection 1.
    await new Promise((r) => srv.conns[0]!.socket.once('close', r));
    await readBody(await c.service(meshRequest({ path: '/two' })));
    // On connection 1, reused, the server drops the request; its retry on connection 2 is dropped
    // too, and that second failure is the request's.
    const err = await rejection(c.service(meshRequest({ path: '/twice' })));
    expect(err.code).toBe('UPSTREAM_RESET');
    expect(err.message).toMatch(/connection closed before the response completed/);
    expect(srv.conns.length).toBe(3);
  });

  it('fails a request still unanswered on a reused connection when the client is destroyed, instead of leaving it unsettled', async () => {
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('GET /first');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      // The long poll is never answered.
    });
    const c = client(srv.address, 1);
    await readBody(await c.service(meshRequest({ path: '/first' })));
    const poll = c.service(meshRequest({ path: '/poll' }));
    await srv.conns[0]!.receivedUntil('GET /poll');
    await c.destroy();
    const err = await rejection(poll);
    expect(err.code).toBe('UPSTREAM_RESET');
    expect(err.message).toMatch(/^endpoint 127\.0\.0\.1:\d+: the endpoint's client was destroyed$/);
    expect(srv.conns).toHaveLength(1); // not sent again
  });

  it('gives a connection back untouched when its request was cancelled before a byte of it went out', async () => {
    let letSlowGo!: () => void;
    const slowMayGo = new Promise<void>((r) => (letSlowGo = r));
    const srv = await rawServer((conn) => {
      // Answers each request as its head comes, in order; /slow once the test lets it.
      let answered = 0;
      const answer = async () => {
        const heads = [...conn.received().matchAll(/^(?:GET|POST) (\S+) HTTP\/1\.1\r\n/gm)].map((m) => m[1]!);
        while (answered < heads.length) {
          const path = heads[answered++]!;
          if (path === '/slow') await slowMayGo;
          conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
        }
      };
      conn.socket.on('data', () => void answer());
    });
    const c = client(srv.address, 1);
    const slow = c.service(meshRequest({ path: '/slow' }));
    await expect.poll(() => srv.conns.length).toBe(1);
    await srv.conns[0]!.receivedUntil('GET /slow');
    // Waiting in line for the one connection, its client gives up.
    const waiting = new AbortController();
    const gaveUp = c.service(meshRequest({ path: '/gave-up', signal: waiting.signal }));
    waiting.abort();
    letSlowGo();
    expect((await readBody(await slow)).toString()).toBe('/slow');
    const cancelled = await rejection(gaveUp);
    expect(cancelled.code).toBe('UPSTREAM_RESET');
    expect(cancelled.message).toMatch(/^endpoint 127\.0\.0\.1:\d+: request cancelled by the client$/);
    // A POST whose body has not begun (so its head waits too) is cancelled on the connection.
    const posting = new AbortController();
    const post = c.service(meshRequest({ method: 'POST', path: '/post', body: new PassThrough(), signal: posting.signal }));
    await tick();
    posting.abort();
    expect((await rejection(post)).message).toMatch(/request cancelled by the client$/);
    expect((await readBody(await c.service(meshRequest({ path: '/after' })))).toString()).toBe('/after');
    // One connection throughout, and the server never saw either cancelled request.
    expect(srv.conns).toHaveLength(1);
    expect(srv.conns[0]!.received()).not.toMatch(/gave-up|POST/);
  });

  it('takes an answer that comes before the request body ended, then closes that connection', async () => {
    const srv = await rawServer(async (conn, index) => {
      if (index > 0) return answerEach(conn);
      await conn.receivedUntil('first part');
      conn.socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo long');
    });
    const c = client(srv.address, 1);
    const body = new PassThrough();
    body.write('first part');
    const res = await c.service(meshRequest({ method: 'POST', headers: { 'content-length': '1000000' }, body }));
    expect(res.status).toBe(413);
    expect((await readBody(res)).toString()).toBe('too long');
    await new Promise((r) => srv.conns[0]!.socket.once('close', r));
    body.write('more of it'); // nowhere to go: the client has let go of it
    expect((await readBody(await c.service(meshRequest()))).toString()).toBe('ok');
    expect(srv.conns).toHaveLength(2);
  });

  it('reads no body after HEAD, 204 or 304, skips a 100 Continue, and keeps the connection', async () => {
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('HEAD /h');
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n');
      await conn.receivedUntil('GET /nc');
      conn.socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      await conn.receivedUntil('GET /nm');
      conn.socket.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n');
      await conn.receivedUntil('GET /continue');
      conn.socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody');
    });
    const c = client(srv.address, 1);
    const results: Array<[number, MeshResponse['body']]> = [];
    for (const [method, path] of [['HEAD', '/h'], ['GET', '/nc'], ['GET', '/nm']] as const) {
      const res = await c.service(meshRequest({ method, path }));
      results.push([res.status, res.body]);
    }
    expect(results).toEqual([[200, null], [204, null], [304, null]]);
    const res = await c.service(meshRequest({ path: '/continue' }));
    expect(res.status).toBe(200);
    expect((await readBody(res)).toString()).toBe('body');
    expect(srv.conns).toHaveLength(1);
  });

  it('passes on a chunked response\'s trailers, and closes on Connection: close', async () => {
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('\r\n\r\n');
      conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n4\r\npart\r\n0\r\nX-Checksum: abc\r\n\r\n');
    });
    const c = client(srv.address);
    const res = await c.service(meshRequest());
    expect(res.headers).toEqual({}); // Trailer and Transfer-Encoding are hop-by-hop
    expect((await readBody(res)).toString()).toBe('part');
    expect(await res.trailers).toEqual({ 'x-checksum': 'abc' });
    await new Promise((r) => srv.conns[0]!.socket.once('close', r)); // the client closed it
    await readBody(await c.service(meshRequest()));
    expect(srv.conns).toHaveLength(2);
  });

  it('reads heads the parser hands over in batches: one of many headers, and every head after a chunked response\'s trailers', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}\r\n`).join('');
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('GET /many');
      conn.socket.write(`HTTP/1.1 200 OK\r\n${many}Content-Length: 1\r\n\r\na`);
      await conn.receivedUntil('GET /trailers');
      conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\nX-Sum: 1\r\n\r\n');
      await conn.receivedUntil('GET /after');
      conn.socket.write('HTTP/1.1 201 Created\r\nX-After: yes\r\nContent-Length: 1\r\n\r\nc');
    });
    const c = client(srv.address, 1);
    const first = await c.service(meshRequest({ path: '/many' }));
    expect(Object.keys(first.headers)).toHaveLength(41);
    expect(first.headers['x-h39']).toBe('v39');
    const second = await c.service(meshRequest({ path: '/trailers' }));
    expect((await readBody(second)).toString()).toBe('b');
    expect(await second.trailers).toEqual({ 'x-sum': '1' });
    const third = await c.service(meshRequest({ path: '/after' }));
    expect([third.status, third.headers, (await readBody(third)).toString()]).toEqual([201, { 'x-after': 'yes', 'content-length': '1' }, 'c']);
    expect(srv.conns).toHaveLength(1);
  });

  it('holds the server back while nobody reads the body (backpressure), and delivers every byte once read', async () => {
    const TOTAL = 32 * 1024 * 1024;
    let written = (): number => 0;
    let paused: () => void = () => {};
    const held = new Promise<void>((r) => (paused = r));
    const srv = await rawServer(async (conn) => {
      await conn.receivedUntil('\r\n\r\n');
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${TOTAL}\r\n\r\n`);
      written = writeAsTaken(conn.socket, TOTAL, { onRefused: paused });
    });
    const c = client(srv.address);
    const res = await c.service(meshRequest());
    const body = streamed(res.body);
    await held;
    // Give an unpaused client every chance to drain the server before looking.
    await new Promise((r) => setTimeout(r, 300));
    expect(written()).toBeLessThan(TOTAL / 2);
    let read = 0;
    for await (const chunk of body) read += (chunk as Buffer).length;
    expect(read).toBe(TOTAL);
  });
});
