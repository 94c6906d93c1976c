// Hostile and broken input at the proxy's edges: each case is answered as HTTP says, logged,
// and the proxy then serves the next request.
import { connect as h2connect, constants as h2 } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startH2App, startHttp1App } from '../../helpers/apps.ts';
import { startTwoProxies, type TwoProxies } from '../../helpers/two-proxies.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const WEB = 'web.test.svc.cluster.local:8080';
const DEAD = 'dead.test.svc.cluster.local:8080';
const H2 = 'h2.test.svc.cluster.local:8443';
let mesh: TwoProxies;
let deadPort: number;

beforeAll(async () => {
  const app = await startHttp1App(`${NET}.10`);
  const h2app = await startH2App(`${NET}.10`);
  // A port that refuses connections: bound once, then closed.
  const probe: Server = createServer();
  await new Promise<void>((r) => probe.listen(0, `${NET}.10`, r));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  mesh = await startTwoProxies({
    clientIp: `${NET}.9`,
    serverIp: `${NET}.10`,
    services: [
      { authority: WEB, port: app.port },
      { authority: DEAD, port: deadPort },
      { authority: H2, port: h2app.port },
    ],
    apps: [app, h2app],
  });
});
afterAll(() => mesh?.close());

/** Writes raw bytes to the outbound port and returns everything the proxy sends until it closes. */
function raw(bytes: string | Buffer, opts: { vanishAfterMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(mesh.outbound.port, mesh.outbound.host);
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', (err) => (text ? resolve(text) : reject(err)));
    socket.write(bytes);
    if (opts.vanishAfterMs !== undefined) setTimeout(() => socket.destroy(), opts.vanishAfterMs);
  });
}

async function servesNext(): Promise<void> {
  const client = new Client(mesh.proxyUrl);
  try {
    const res = await client.request({ path: '/next', method: 'GET', headers: { host: WEB } });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('hello GET /next');
  } finally {
    await client.close();
  }
}

const logged = (which: 'outbound' | 'inbound', re: RegExp) =>
  expect.poll(() => mesh[which].logs.some((l) => re.test(String(l.msg))), { timeout: 3000 }).toBe(true);

/** Sends one HTTP/2 GET for `path` to `authority` on a fresh connection to the outbound port; returns its status. */
async function h2Status(path: string, authority: string): Promise<unknown> {
  const session = h2connect(`http://${mesh.outbound.host}:${mesh.outbound.port}`);
  session.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const s = session.request({ ':path': path, ':authority': authority });
      s.on('response', (h) => resolve(h[':status']));
      s.on('error', reject);
      s.resume();
      s.end();
    });
  } finally {
    session.close();
  }
}

describe('bad input', () => {
  it('a malformed request line gets a 400 naming the problem', async () => {
    const answer = await raw(`GET /x HTTP/1.1 trailing-junk\r\nHost: ${WEB}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
    expect(answer).toMatch(/l5d-proxy-error: HPE_/);
    await logged('outbound', /bad HTTP\/1 request/);
    await servesNext();
  });

  it('an invalid header gets a 400', async () => {
    const answer = await raw(`GET / HTTP/1.1\r\nHost: ${WEB}\r\nBad Header: v\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toMatch(/l5d-proxy-error: HPE_INVALID_HEADER_TOKEN/);
    await servesNext();
  });

  it('headers over 64 KB get a 431', async () => {
    const answer = await raw(`GET / HTTP/1.1\r\nHost: ${WEB}\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 431 /);
    await logged('outbound', /request headers exceed the proxy limit/);
    await servesNext();
  });

  it('headers just under 64 KB pass', async () => {
    const client = new Client(mesh.proxyUrl);
    const res = await client.request({ path: '/ok', method: 'GET', headers: { host: WEB, 'x-big': 'a'.repeat(60 * 1024) } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    await client.close();
  });

  it('a request with no Host gets a 400 from the proxy', async () => {
    const answer = await raw('GET /x HTTP/1.0\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toMatch(/l5d-proxy-error: request has no Host header/);
  });

  it('garbage after the HTTP/2 preface ends that connection with GOAWAY only', async () => {
    const answer = await raw(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from('this is not an HTTP/2 frame at all')]));
    // A GOAWAY frame is type 0x07; the proxy says why, then closes.
    expect(answer.length).toBeGreaterThan(0);
    await logged('outbound', /HTTP\/2 connection from .* failed/);
    expect(await h2Status('/h2-next', H2)).toBe(200);
    await servesNext();
  });

  it('a client that sends half a request head and vanishes', async () => {
    await raw(`POST /count HTTP/1.1\r\nHost: ${WEB}\r\nContent-Le`, { vanishAfterMs: 50 });
    await logged('outbound', /client connection broke|closed before/);
    await servesNext();
  });

  it('a client that sends half a body and vanishes: the app sees the request cut short', async () => {
    await raw(`POST /count HTTP/1.1\r\nHost: ${WEB}\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`, { vanishAfterMs: 100 });
    await logged('outbound', /proxy answered 502|client closed/);
    await servesNext();
  });

  it('an upstream that resets mid-stream: the client sees a cut-off body, the proxies log it', async () => {
    const client = new Client(mesh.proxyUrl);
    const res = await client.request({ path: '/reset', method: 'GET', headers: { host: WEB } });
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    await client.close();
    await logged('inbound', /failed mid-stream/);
    await servesNext();
  });

  it("a request's query stays out of the proxies' logs (it may carry a credential): the error line names the method and the path", async () => {
    const client = new Client(mesh.proxyUrl);
    const res = await client.request({ path: '/account?token=s3cret-h1', method: 'GET', headers: { host: DEAD } });
    expect(res.statusCode).toBe(502);
    await res.body.text();
    await client.close();
    expect(await h2Status('/account?token=s3cret-h2', DEAD)).toBe(502);
    // Both edges: the inbound's HTTP/1 edge answered the first, its HTTP/2 edge the second.
    await expect.poll(() => mesh.inbound.logs.filter((l) => String(l.msg).startsWith('proxy answered 502') && l.path === '/account?...').length, { timeout: 3000 }).toBeGreaterThanOrEqual(2);
    expect(mesh.inbound.logs.find((l) => l.path === '/account?...')).toMatchObject({ method: 'GET' });
    for (const l of [...mesh.outbound.logs, ...mesh.inbound.logs]) expect(JSON.stringify(l)).not.toContain('s3cret');
  });

  it('an upstream that refuses connections: 502 with l5d-proxy-error from the inbound proxy', async () => {
    const client = new Client(mesh.proxyUrl);
    const res = await client.request({ path: '/x', method: 'GET', headers: { host: DEAD } });
    expect(res.statusCode).toBe(502);
    expect(res.headers['l5d-proxy-error']).toMatch(new RegExp(`${NET}.10:${deadPort}.*refused`));
    expect(await res.body.text()).toMatch(/^CONNECT_FAILED: /);
    await client.close();
    await logged('inbound', /proxy answered 502/);
    await servesNext();
  });

  it('garbage that is neither HTTP nor CONNECT on the outbound port is closed and logged', async () => {
    const answer = await raw(Buffer.from([0x00, 0xff, 0x13, 0x37]));
    expect(answer).toBe('');
    await logged('outbound', /is not HTTP/);
    await servesNext();
  });

  it('h2: a stream reset by the client is reported upstream and the session keeps working', async () => {
    const session = h2connect(`http://${mesh.outbound.host}:${mesh.outbound.port}`);
    session.on('error', () => {});
    const s = session.request({ ':path': '/echo', ':method': 'POST', ':authority': H2 });
    s.write('partial');
    s.on('error', () => {});
    await new Promise((r) => setTimeout(r, 100));
    s.close(h2.NGHTTP2_CANCEL);
    const ok = session.request({ ':path': '/h2-after-reset', ':authority': H2 });
    const status = await new Promise((resolve) => ok.on('response', (h) => resolve(h[':status'])));
    ok.resume();
    session.close();
    expect(status).toBe(200);
  });
  it('a caller naming the proxy\'s own port in l5d-dst-port is refused: no POST /shutdown from outside', async () => {
    const client = new Client(`http://${mesh.inbound.host}:${mesh.inbound.port}`);
    for (const port of [mesh.inbound.adminPort, mesh.inbound.port]) {
      const res = await client.request({ method: 'POST', path: '/shutdown', headers: { host: WEB, 'l5d-dst-port': String(port) } });
      expect(res.statusCode).toBe(403);
      expect(res.headers['l5d-proxy-error']).toMatch(new RegExp(`port ${port} is this proxy's own`));
      await res.body.dump();
    }
    await client.close();
    const ready = await fetch(`http://${mesh.inbound.host}:${mesh.inbound.adminPort}/ready`);
    expect(ready.status).toBe(200); // still up, not shut down
    await servesNext();
  });
});
