// The HTTP/1.1 endpoint client whose parser reads the socket's handle itself, over plaintext and
// over mTLS (the handle is then a TLSWrap, whose reads come one TLS record at a time): backpressure
// and reuse after it, bodies ended by the close, closes and resets mid-body, bytes after a response, 1xx in
// reads of their own, an answer before the request body, and bodies spread over many reads.
import net, { type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../../api/destination-types.ts';
import { EndpointConnector } from '../../../../proxy/outbound/endpoint/connector.ts';
import { sleep, streamed } from '../../../helpers/fake-request.ts';
import { productionId } from '../../../helpers/pki.ts';
import { SwappableCredentials, TestPki } from './fixtures/certs.ts';
import { meshRequest, quietLogger, readBody, recordConnection, rejection, writeAsTaken, type RecordedConnection } from './fixtures/harness.ts';

const ORDERS = productionId('orders');
const CHECKOUT = productionId('checkout');
let pki: TestPki;
beforeAll(() => {
  pki = new TestPki();
});
afterAll(() => pki.dispose());
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Conn = RecordedConnection;

/**
 * A server that writes exactly what each test gives it, plain or TLS 1.3 with a client
 * certificate (as a peer proxy's inbound port), and the endpoint tier's service for it.
 */
async function endpoint(secure: boolean, onConnection: (conn: Conn, index: number) => void) {
  const conns: Conn[] = [];
  const accept = (socket: Socket): void => {
    const conn = recordConnection(socket);
    conns.push(conn);
    onConnection(conn, conns.length - 1);
  };
  const leaf = pki.leaf(ORDERS);
  const server = secure
    ? tls.createServer({ key: leaf.key, cert: leaf.cert, ca: pki.caPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.3' }, accept)
    : net.createServer(accept);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  const connector = new EndpointConnector({
    logger: quietLogger,
    credentials: new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem),
    metrics: { trackConnection: (s) => sockets.push(s) },
  });
  cleanups.push(() => {
    for (const c of conns) c.socket.destroy();
    return new Promise((r) => server.close(r));
  });
  cleanups.push(() => connector.close(0));
  const ep: Endpoint = secure
    ? { address: '127.0.0.1:8080', inboundPort: port, identity: ORDERS, weight: 1, labels: {} }
    : { address: `127.0.0.1:${port}`, weight: 1, labels: {} };
  return { conns, sockets, service: connector.service(ep) };
}

for (const secure of [false, true]) {
  describe(`the endpoint client's handle-reading parser, ${secure ? 'over mTLS' : 'in plaintext'}`, () => {
    it('reads the handle itself', async () => {
      const ep = await endpoint(secure, (c) => void c.receivedUntil('\r\n\r\n').then(() => c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')));
      expect(String(await readBody(await ep.service(meshRequest())))).toBe('ok');
      // The other tests here read what they read through the handle, not through 'data' events.
      expect((ep.sockets[0] as unknown as { _handle: { _consumed?: boolean } })._handle._consumed).toBe(true);
    });

    it('holds the server back while nobody reads, delivers every byte, and reuses the connection after', async () => {
      const TOTAL = 32 * 1024 * 1024;
      let written = (): number => 0;
      let paused!: () => void;
      const held = new Promise<void>((r) => (paused = r));
      const ep = await endpoint(secure, async (c) => {
        await c.receivedUntil('GET /big');
        c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${TOTAL}\r\n\r\n`);
        written = writeAsTaken(c.socket, TOTAL, { onRefused: paused });
        await c.receivedUntil('GET /next');
        c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext');
      });
      const body = streamed((await ep.service(meshRequest({ path: '/big' }))).body);
      await held;
      await sleep(300); // every chance for a client that does not stop reading to drain the server
      expect(written()).toBeLessThan(TOTAL / 2);
      // Read slowly, so reading stops and starts again many times.
      let read = 0;
      for await (const chunk of body) {
        read += (chunk as Buffer).length;
        if (read % (4 << 20) < 64 * 1024) await sleep(5);
      }
      expect(read).toBe(TOTAL);
      expect(String(await readBody(await ep.service(meshRequest({ path: '/next' }))))).toBe('next');
      expect(ep.conns.length).toBe(1);
    });

    it('reads a body that runs until the close, with a slow reader', async () => {
      const TOTAL = 8 * 1024 * 1024;
      const ep = await endpoint(secure, async (c) => {
        await c.receivedUntil('\r\n\r\n');
        c.socket.write('HTTP/1.1 200 OK\r\n\r\n');
        writeAsTaken(c.socket, TOTAL, { end: true });
      });
      let read = 0;
      for await (const chunk of streamed((await ep.service(meshRequest())).body)) {
        read += (chunk as Buffer).length;
        await sleep(1);
      }
      expect(read).toBe(TOTAL);
    });

    it('fails a body cut by the close, whether reading or stopped', async () => {
      const ep = await endpoint(secure, async (c, i) => {
        await c.receivedUntil('\r\n\r\n');
        if (i === 0) c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
        else c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${10 << 20}\r\n\r\n${'z'.repeat(1 << 20)}`);
        await sleep(100);
        c.socket.end();
      });
      const reading = await ep.service(meshRequest());
      expect((await rejection(readBody(reading))).message).toMatch(/closed before the response body completed/);
      const stopped = await ep.service(meshRequest());
      await sleep(300); // read only after the close
      expect((await rejection(readBody(stopped))).message).toMatch(/closed before the response body completed/);
    });

    // A TLS socket cannot be reset from JavaScript (its handle is not a TCP one): plaintext only.
    if (!secure) it('fails a body cut by a reset, whether reading or stopped, and the next request gets a fresh connection', async () => {
      const ep = await endpoint(secure, async (c, i) => {
        await c.receivedUntil('\r\n\r\n');
        if (i === 2) return void c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh');
        c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${10 << 20}\r\n\r\n${'z'.repeat(i === 0 ? 10 : 1 << 20)}`);
        await sleep(100);
        c.socket.resetAndDestroy();
      });
      const reading = await ep.service(meshRequest());
      expect(await rejection(readBody(reading))).toMatchObject({ code: 'UPSTREAM_RESET' });
      const stopped = await ep.service(meshRequest());
      await expect.poll(() => ep.conns[1]!.socket.destroyed, { timeout: 5_000 }).toBe(true);
      expect(await rejection(readBody(stopped))).toMatchObject({ code: 'UPSTREAM_RESET' });
      expect(String(await readBody(await ep.service(meshRequest())))).toBe('fresh');
      expect(ep.conns.length).toBe(3);
    });

    it('closes a connection that sends bytes after a response, in the same read or a later one', async () => {
      const ep = await endpoint(secure, async (c, i) => {
        await c.receivedUntil('\r\n\r\n');
        if (i === 0) c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokJUNK');
        else if (i === 1) {
          c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
          await sleep(50);
          c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
        } else c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nyes');
      });
      // Each time, the next request waits for the client to have closed the connection (a fixed
      // wait could end before the late bytes came, and the next request would take them as its answer).
      expect(String(await readBody(await ep.service(meshRequest())))).toBe('ok');
      await expect.poll(() => ep.conns[0]!.socket.destroyed, { timeout: 5_000 }).toBe(true);
      expect(String(await readBody(await ep.service(meshRequest())))).toBe('ok');
      await expect.poll(() => ep.conns[1]!.socket.destroyed, { timeout: 5_000 }).toBe(true);
      expect(String(await readBody(await ep.service(meshRequest())))).toBe('yes');
      expect(ep.conns.length).toBe(3);
    });

    it('skips 1xx that come in reads of their own, and keeps the connection', async () => {
      const ep = await endpoint(secure, async (c) => {
        await c.receivedUntil('\r\n\r\n');
        c.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        await sleep(30);
        c.socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n');
        await sleep(30);
        c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        await c.receivedUntil('GET /2');
        c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo');
      });
      const res = await ep.service(meshRequest());
      expect(res.status).toBe(200);
      expect(String(await readBody(res))).toBe('ok');
      expect(String(await readBody(await ep.service(meshRequest({ path: '/2' }))))).toBe('two');
      expect(ep.conns.length).toBe(1);
    });

    it('takes an answer that comes before the request body ended, and sends nothing more on that connection', async () => {
      const ep = await endpoint(secure, async (c, i) => {
        await c.receivedUntil('\r\n\r\n');
        c.socket.write(i === 0 ? 'HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig' : 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nyes');
      });
      const body = new PassThrough();
      body.write('a'.repeat(100));
      const res = await ep.service(meshRequest({ method: 'POST', body }));
      expect(res.status).toBe(413);
      expect(String(await readBody(res))).toBe('big');
      body.end('more');
      await sleep(50);
      expect(String(await readBody(await ep.service(meshRequest())))).toBe('yes');
      expect(ep.conns.length).toBe(2);
      expect(ep.conns[0]!.received()).not.toContain('more');
    });

    it('reads thirty kept-alive responses whose bodies span several reads, each byte where it was', async () => {
      const SIZE = 100_000;
      const bodyOf = (n: number): Buffer => {
        const b = Buffer.alloc(SIZE);
        for (let i = 0; i < SIZE; i++) b[i] = (i * 7 + n) % 256;
        return b;
      };
      const ep = await endpoint(secure, (c) => {
        let answered = 0;
        c.socket.on('data', () => {
          const asked = c.received().split('GET ').length - 1;
          while (answered < asked) {
            answered++;
            c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${SIZE}\r\n\r\n`);
            c.socket.write(bodyOf(answered));
          }
        });
      });
      for (let n = 1; n <= 30; n++) expect((await readBody(await ep.service(meshRequest()))).equals(bodyOf(n))).toBe(true);
      expect(ep.conns.length).toBe(1);
    });
  });
}
