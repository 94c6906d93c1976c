// The small-body path (outbound/endpoint/http1-exchange.ts): a response whose whole body came
// with its head goes on as one Buffer, not a stream. Through two real proxies, a raw TCP client
// checks that this changes no byte it receives (against the same response streamed), that a
// chunked response stays chunked, and that a body still arriving (server-sent events, with a
// length or without) streams each event on as it comes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../helpers/address-block.ts';
import { startAppBehindTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';

const NET = await addressBlock();
const AUTHORITY = 'bodies.test.svc.cluster.local:8080';
const EVENTS = 4;
/** Far longer than delivering an event takes, so an event held back shows as a gap this long. */
const EVENT_GAP_MS = 250;

/** When the app wrote each event of the latest stream (this process's clock, as the client's). */
let eventsWritten: number[] = [];

/** Every byte value in turn: the edge writes a small body with its head as one latin1 string, which must give back each byte as it was. */
function body(n: number): Buffer {
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = i % 256;
  return bytes;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const [, kind, arg] = (req.url ?? '/').split('/');
  const n = Number(arg ?? 0);
  const head = { 'content-type': 'application/octet-stream', 'content-length': n, 'x-kind': 'same' };
  if (kind === 'whole') {
    res.writeHead(200, head);
    res.end(body(n)); // head and body in one write: the proxy reads them together
  } else if (kind === 'late') {
    res.writeHead(200, head);
    res.flushHeaders(); // the head alone, the body 100 ms later: the proxy must stream it
    setTimeout(() => res.end(body(n)), 100);
  } else if (kind === 'chunked') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first;');
    res.end('second');
  } else if (kind === 'events') {
    // `events/length`: the stream's length is known up front; `events/open`: chunked, as most are.
    const event = (i: number) => `data: event ${i}\n\n`;
    const total = Array.from({ length: EVENTS }, (_, i) => event(i)).join('').length;
    res.writeHead(200, { 'content-type': 'text/event-stream', ...(arg === 'length' ? { 'content-length': total } : {}) });
    eventsWritten = [];
    let i = 0;
    const next = () => {
      eventsWritten.push(performance.now());
      res.write(event(i));
      if (++i < EVENTS) setTimeout(next, EVENT_GAP_MS);
      else res.end();
    };
    next();
  } else {
    res.writeHead(404).end();
  }
}

/** A response as the client's socket received it, with `Date` (which differs by the second) taken out. */
interface Raw {
  head: string;
  body: Buffer;
  /** When each read of the body arrived, and what it held. */
  reads: Array<{ at: number; text: string }>;
}

/** One request on a fresh connection, read raw until the server's response is complete. */
function rawGet(port: number, host: string, path: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let buf = Buffer.alloc(0);
    const reads: Raw['reads'] = [];
    let headEnd = -1;
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (headEnd < 0) headEnd = buf.indexOf('\r\n\r\n');
      const bodyPart = headEnd < 0 ? '' : headEnd + 4 >= buf.length - chunk.length ? buf.subarray(headEnd + 4).toString() : chunk.toString();
      if (bodyPart) reads.push({ at: performance.now(), text: bodyPart });
      if (headEnd < 0) return;
      const head = buf.subarray(0, headEnd).toString('latin1');
      const rest = buf.subarray(headEnd + 4);
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      const done = length ? rest.length >= Number(length[1]) : rest.includes('0\r\n\r\n');
      if (!done) return;
      socket.destroy();
      resolve({ head: head.replace(/\r\ndate: [^\r]*/i, ''), body: rest, reads });
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${AUTHORITY}\r\n\r\n`);
  });
}

let mesh: TwoProxies & { app: { port: number; close(): Promise<void> } };
let host: string;
let port: number;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(
    async (ip: string) => {
      const server: Server = createServer(handle);
      await new Promise<void>((r) => server.listen(0, ip, r));
      return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
    },
    { clientIp: `${NET}.11`, serverIp: `${NET}.12`, authority: AUTHORITY },
  );
  const url = new URL(mesh.proxyUrl);
  host = url.hostname;
  port = Number(url.port);
});
afterAll(async () => {
  await mesh?.close();
});

describe('the small-body path', () => {
  it('gives the client the same bytes as the streamed path, for bodies of every size up to the limit and past it', async () => {
    for (const n of [0, 1, 5, 1000, 8 * 1024, 8 * 1024 + 1, 16 * 1024, 64 * 1024, 64 * 1024 + 1, 300 * 1024]) {
      const whole = await rawGet(port, host, `/whole/${n}`);
      const late = await rawGet(port, host, `/late/${n}`);
      expect(whole.head, `head of a ${n}-byte body`).toBe(late.head);
      expect(whole.head).toMatch(new RegExp(`^HTTP/1.1 200 OK\\r\\n[^]*content-length: ${n}\\r\\n`, 'i'));
      expect(whole.head).not.toMatch(/transfer-encoding/i);
      expect(whole.body.equals(body(n)), `body of ${n} bytes`).toBe(true);
      expect(late.body.equals(body(n))).toBe(true);
    }
  });

  it('keeps a chunked response chunked', async () => {
    const r = await rawGet(port, host, '/chunked');
    expect(r.head).toMatch(/\r\ntransfer-encoding: chunked/i);
    expect(r.head).not.toMatch(/content-length/i);
    expect(r.body.toString()).toMatch(/first;[^]*second[^]*0\r\n\r\n$/);
  });

  for (const kind of ['length', 'open']) {
    it(`streams server-sent events as they come (${kind === 'length' ? 'with a content-length' : 'chunked'})`, async () => {
      const r = await rawGet(port, host, `/events/${kind}`);
      const arrived = Array.from({ length: EVENTS }, (_, i) => r.reads.find((read) => read.text.includes(`data: event ${i}\n`))?.at);
      expect(arrived.every((t) => t !== undefined)).toBe(true);
      const delays = arrived.map((t, i) => t! - eventsWritten[i]!);
      // Each event reached the client before the app wrote the next: none was held for the end.
      for (let i = 0; i + 1 < EVENTS; i++) expect(arrived[i]!, `event ${i} (delays ${delays.map((d) => d.toFixed(1)).join(', ')} ms)`).toBeLessThan(eventsWritten[i + 1]!);
      // And promptly: the bar, on the median (one event may meet a busy moment of a loaded machine).
      const sorted = [...delays].sort((a, b) => a - b);
      expect(sorted[Math.floor(EVENTS / 2)]!).toBeLessThan(50);
    });
  }
});
