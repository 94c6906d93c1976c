// Raw tunnels to endpoints and the opaque transport header that opens them on another proxy.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spiffeIdOfPeer } from '../../../../api/spiffe.ts';
import { EndpointConnector, TUNNEL_ALPN } from '../../../../proxy/outbound/endpoint/connector.ts';
import { opaqueHeader, parseOpaqueHeader, readOpaqueHeader } from '../../../../proxy/transport/opaque-header.ts';
import { SwappableCredentials, TestPki } from './fixtures/certs.ts';
import { quietLogger, rejection } from './fixtures/harness.ts';
import { addressBlock } from '../../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.4`;
const ORDERS = 'spiffe://cluster.local/ns/production/sa/orders';
const CHECKOUT = 'spiffe://cluster.local/ns/production/sa/checkout';

let pki: TestPki;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/** An inbound-proxy stand-in: reads the opaque header, then echoes `<port>|<who>|` and the bytes. */
function onTunnel(socket: net.Socket, who: string): void {
  socket.on('error', () => {});
  readOpaqueHeader(socket, 2000).then(
    ({ port, rest }) => {
      socket.write(`${port}|${who}|`);
      socket.write(rest);
      socket.pipe(socket);
    },
    (err: Error & { code: string }) => socket.end(`ERR ${err.code}`),
  );
}

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on(server instanceof tls.Server ? 'secureConnection' : 'connection', (s: net.Socket) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return (server.address() as AddressInfo).port;
}

function readUntil(socket: NodeJS.ReadableStream, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.on('data', (c: Buffer) => { got += c.toString(); if (got.includes(text)) resolve(got); });
    socket.on('error', reject);
    socket.on('end', () => resolve(got));
  });
}

beforeAll(() => { pki = new TestPki(); });
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise((r) => s.close(r));
  pki.dispose();
});

describe('openTunnel', () => {
  it('opens a plain TCP stream to an unproxied endpoint', async () => {
    const port = await listen(net.createServer((s) => s.pipe(s)));
    const c = new EndpointConnector({ logger: quietLogger });
    const tunnel = await c.openTunnel({ address: `${HOST}:${port}`, weight: 1, labels: {} });
    tunnel.write('ping');
    expect(await readUntil(tunnel, 'ping')).toBe('ping');
    tunnel.destroy();
    await c.close();
  });

  it('writes the opaque header before the app bytes to a proxy, in plaintext without credentials', async () => {
    const inboundPort = await listen(net.createServer((s) => onTunnel(s, 'plain')));
    const c = new EndpointConnector({ logger: quietLogger });
    const tunnel = await c.openTunnel({ address: `${HOST}:5432`, inboundPort, weight: 1, labels: {} });
    tunnel.write('SELECT 1');
    expect(await readUntil(tunnel, 'SELECT 1')).toBe('5432|plain|SELECT 1');
    tunnel.destroy();
    await c.close();
  });

  it('uses mTLS with ALPN transport.l5d.io/v1 and checks the identity', async () => {
    const leaf = pki.leaf(ORDERS);
    const server = tls.createServer({ key: leaf.key, cert: leaf.cert, ca: pki.caPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: [TUNNEL_ALPN] }, (s) =>
      onTunnel(s, `${s.alpnProtocol}/${spiffeIdOfPeer(s.getPeerCertificate().subjectaltname)}`),
    );
    server.on('tlsClientError', () => {});
    const inboundPort = await listen(server);
    const c = new EndpointConnector({ logger: quietLogger, credentials: new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem) });
    const tunnel = await c.openTunnel({ address: `${HOST}:6379`, inboundPort, identity: ORDERS, weight: 1, labels: {} });
    tunnel.write('PING');
    expect(await readUntil(tunnel, 'PING')).toBe(`6379|${TUNNEL_ALPN}/${CHECKOUT}|PING`);
    tunnel.destroy();
    const err = await rejection(c.openTunnel({ address: `${HOST}:6379`, inboundPort, identity: CHECKOUT, weight: 1, labels: {} }));
    expect(err.code).toBe('IDENTITY_MISMATCH');
    await c.close();
  });

  it('fails with CONNECT_FAILED when nothing listens', async () => {
    const c = new EndpointConnector({ logger: quietLogger });
    const err = await rejection(c.openTunnel({ address: `${HOST}:1`, weight: 1, labels: {} }));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toBe(`endpoint ${HOST}:1: connect refused`);
    await c.close();
  });
});

describe('the opaque header', () => {
  it('parses valid headers and says precisely what is wrong with bad ones', () => {
    expect(parseOpaqueHeader(Buffer.from('L5D-OPAQUE 8080\r\nrest'))).toEqual({ port: 8080, length: 17 });
    expect(parseOpaqueHeader(Buffer.from('L5D-OPAQUE 65535\r\n'))).toEqual({ port: 65535, length: 18 });
    expect(parseOpaqueHeader(Buffer.from('L5D-OPA'))).toBe('more');
    expect(parseOpaqueHeader(Buffer.from('L5D-OPAQUE 80'))).toBe('more');
    expect(parseOpaqueHeader(Buffer.from('L5D-OPAQUE 80\r'))).toBe('more');
    const cases: Array<[string, RegExp]> = [
      ['GET / HTTP/1.1\r\n', /expected "L5D-OPAQUE <port>\\r\\n", got "GET \/ HTTP\/1.1/],
      ['L5D-OPAQUE 0\r\n', /port 0 is not 1-65535/],
      ['L5D-OPAQUE 65536\r\n', /port 65536 is not 1-65535/],
      ['L5D-OPAQUE 123456\r\n', /more than 5 digits/],
      ['L5D-OPAQUE 08080\r\n', /leading zero/],
      ['L5D-OPAQUE -80\r\n', /digits only.*0x2d/],
      ['L5D-OPAQUE 80 \r\n', /digits only.*0x20/],
      ['L5D-OPAQUE 80\n', /digits only.*0x0a/],
      ['L5D-OPAQUE \r\n', /port is missing/],
      ['L5D-OPAQUE 80\rX', /bare \\r/],
    ];
    for (const [input, why] of cases) {
      const parsed = parseOpaqueHeader(Buffer.from(input));
      expect(typeof parsed, input).toBe('string');
      expect(parsed as string, input).toMatch(why);
    }
    expect(() => opaqueHeader(0)).toThrow(/port 0 is not 1-65535/);
  });

  it('reads a header split across packets and hands back the bytes after it', async () => {
    const got = new Promise<{ port: number; rest: Buffer }>((resolve, reject) => {
      listen(net.createServer((s) => readOpaqueHeader(s, 2000).then(resolve, reject))).then((port) => {
        const client = net.connect(port, HOST, async () => {
          client.write('L5D-OPA');
          await new Promise((r) => setTimeout(r, 30));
          client.write('QUE 443\r\nhello');
        });
      });
    });
    const { port, rest } = await got;
    expect(port).toBe(443);
    expect(rest.toString()).toBe('hello');
  });

  it('rejects garbage, a stall, a close and an over-long line with typed errors', async () => {
    const outcomes: string[] = [];
    const port = await listen(net.createServer((s) => readOpaqueHeader(s, 300).then(
      () => outcomes.push('ok'),
      (err: Error & { code: string }) => { outcomes.push(`${err.code}: ${err.message}`); s.destroy(); },
    )));
    const send = async (bytes: string | null, end: boolean): Promise<void> => {
      const client = net.connect(port, HOST);
      client.on('error', () => {});
      await new Promise((r) => client.once('connect', r));
      if (bytes) client.write(bytes);
      if (end) client.end();
      await new Promise((r) => client.once('close', r));
    };
    await send('\x16\x03\x01garbage', false);
    await send('L5D-OPAQUE 80', false);
    await send('L5D-OPAQUE 8', true);
    await send('L5D-OPAQUE 1234\t\t\t', false);
    expect(outcomes[0]).toMatch(/^OPAQUE_HEADER_INVALID: opaque header: expected/);
    expect(outcomes[1]).toMatch(/^OPAQUE_HEADER_TIMEOUT: opaque header: none complete within 300 ms \(13 bytes read\)/);
    expect(outcomes[2]).toMatch(/^OPAQUE_HEADER_CLOSED: .*after 12 bytes/);
    expect(outcomes[3]).toMatch(/^OPAQUE_HEADER_INVALID: .*digits only.*0x09/);
  });
});
