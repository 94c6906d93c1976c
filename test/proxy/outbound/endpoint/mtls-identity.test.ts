// The endpoint tier over mTLS: ALPN picks the protocol, the server must present exactly the
// advertised identity, and a rotated client certificate applies to new connections.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spiffeIdOfPeer } from '../../../../api/spiffe.ts';
import { EndpointConnector } from '../../../../proxy/outbound/endpoint/connector.ts';
import { SwappableCredentials, TestPki } from './fixtures/certs.ts';
import { meshRequest, quietLogger, readBody, rejection } from './fixtures/harness.ts';
import { addressBlock } from '../../../helpers/address-block.ts';
import { productionId } from '../../../helpers/pki.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.3`;
const ORDERS = productionId('orders');
const CHECKOUT = productionId('checkout');
const PAYMENTS = productionId('payments');

let pki: TestPki;
let foreignPki: TestPki;
let server: http2.Http2SecureServer;
let inboundPort: number;
const sessions = new Set<http2.ServerHttp2Session>();

/** What the inbound side saw of one request: protocol, client identity and certificate serial. */
function describeCaller(socket: TLSSocket, dstPort: unknown): string {
  const cert = socket.getPeerCertificate();
  return JSON.stringify({ alpn: socket.alpnProtocol, client: spiffeIdOfPeer(cert.subjectaltname), serial: cert.serialNumber, dstPort });
}

function startServer(leaf: { key: string; cert: string }, caPem: string): Promise<http2.Http2SecureServer> {
  const s = http2.createSecureServer(
    { key: leaf.key, cert: leaf.cert, ca: caPem, requestCert: true, rejectUnauthorized: true, allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'], minVersion: 'TLSv1.3' },
    (req, res) => {
      const socket = (req.httpVersion === '2.0' ? req.stream.session!.socket : req.socket) as TLSSocket;
      res.end(describeCaller(socket, req.headers['l5d-dst-port']));
    },
  );
  s.on('session', (sess) => { sessions.add(sess); sess.on('close', () => sessions.delete(sess)); sess.on('error', () => {}); });
  s.on('tlsClientError', () => {});
  return new Promise((r) => s.listen(0, HOST, () => r(s)));
}

beforeAll(async () => {
  pki = new TestPki();
  foreignPki = new TestPki();
  server = await startServer(pki.leaf(ORDERS), pki.caPem);
  inboundPort = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sessions) s.destroy();
  await new Promise((r) => server.close(r));
  pki.dispose();
  foreignPki.dispose();
});

const orders = (identity = ORDERS) => ({ address: `${HOST}:8080`, inboundPort, identity, weight: 1, labels: {} });

describe('mTLS to a proxied endpoint', () => {
  for (const protocol of ['h2', 'http/1.1'] as const) {
    it(`verifies the identity and negotiates ${protocol} by ALPN`, async () => {
      const creds = new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem);
      const tracked: unknown[] = [];
      const c = new EndpointConnector({ logger: quietLogger, credentials: creds, metrics: { trackConnection: (_s, l) => tracked.push(l) } });
      const res = await c.service(orders())(meshRequest({ protocol }));
      const seen = JSON.parse((await readBody(res)).toString());
      expect(seen).toMatchObject({ alpn: protocol, client: CHECKOUT, dstPort: '8080' });
      expect(tracked).toEqual([{ direction: 'outbound', peer: 'dst', tls: true, authority: `${HOST}:8080`, identity: ORDERS }]);
      await c.close();
    });
  }

  it('keeps an idle mTLS connection to another proxy longer than an idle one to an app', async () => {
    const sockets: Array<{ destroyed: boolean }> = [];
    const creds = new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem);
    const c = new EndpointConnector({ logger: quietLogger, credentials: creds, idleTimeoutMs: 100, proxyIdleTimeoutMs: 60_000, metrics: { trackConnection: (s) => void sockets.push(s) } });
    const res = await c.service(orders())(meshRequest({ protocol: 'http/1.1' }));
    await readBody(res);
    expect(sockets.length).toBe(1);
    // Three times the app-side idle timeout: a new handshake is what the longer idle saves.
    await new Promise((r) => setTimeout(r, 300));
    expect(sockets[0]!.destroyed).toBe(false);
    await c.close();
  });

  it('refuses a server presenting another identity, naming both', async () => {
    const c = new EndpointConnector({ logger: quietLogger, credentials: new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem) });
    for (const protocol of ['h2', 'http/1.1'] as const) {
      const err = await rejection(c.service(orders(PAYMENTS))(meshRequest({ protocol })));
      expect(err.code).toBe('IDENTITY_MISMATCH');
      expect(err.message).toContain(`expected identity ${PAYMENTS}`);
      expect(err.message).toContain(`presented ${ORDERS}`);
      expect(err.message).toContain(`endpoint ${HOST}:8080 via ${HOST}:${inboundPort}`);
    }
    await c.close();
  });

  it('refuses a server whose certificate does not chain to the trust anchors', async () => {
    const c = new EndpointConnector({ logger: quietLogger, credentials: new SwappableCredentials(pki.leaf(CHECKOUT), foreignPki.caPem) });
    const err = await rejection(c.service(orders())(meshRequest({ protocol: 'h2' })));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toMatch(/TLS handshake failed/);
    await c.close();
  });

  it('presents a rotated certificate on new connections', async () => {
    const first = pki.leaf(CHECKOUT);
    const creds = new SwappableCredentials(first, pki.caPem);
    const c = new EndpointConnector({ logger: quietLogger, credentials: creds });
    const svc = c.service(orders());
    const before = JSON.parse((await readBody(await svc(meshRequest({ protocol: 'h2' })))).toString());
    creds.rotate(pki.leaf(CHECKOUT));
    // The open session keeps its certificate...
    const same = JSON.parse((await readBody(await svc(meshRequest({ protocol: 'h2' })))).toString());
    expect(same.serial).toBe(before.serial);
    // ...and once the server retires it, the new session presents the new one.
    // A graceful close: GOAWAY, then the connection ends once its streams are done.
    for (const s of sessions) s.close();
    await expect.poll(() => sessions.size, { timeout: 10_000 }).toBe(0);
    const after = JSON.parse((await readBody(await svc(meshRequest({ protocol: 'h2' })))).toString());
    expect(after.client).toBe(CHECKOUT);
    expect(after.serial).not.toBe(before.serial);
    await c.close();
  });

  it('bounds a TLS handshake that never completes by the connect timeout', async () => {
    const silent = (await import('node:net')).createServer((sock) => sock.on('error', () => {}));
    await new Promise<void>((r) => silent.listen(0, HOST, r));
    const port = (silent.address() as AddressInfo).port;
    const c = new EndpointConnector({ logger: quietLogger, connectTimeoutMs: 200, credentials: new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem) });
    const started = Date.now();
    const err = await rejection(c.service({ ...orders(), inboundPort: port })(meshRequest({ protocol: 'h2' })));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toBe(`endpoint ${HOST}:8080 via ${HOST}:${port}: connect timed out after 200 ms`);
    expect(Date.now() - started).toBeLessThan(5000);
    await c.close();
    silent.close();
  });

  it('stays in plaintext when the endpoint advertises no identity', async () => {
    const c = new EndpointConnector({ logger: quietLogger, credentials: new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem) });
    // A TLS-only server cannot answer a plaintext request: the hop fails, it does not silently use TLS.
    const err = await rejection(c.service({ address: `${HOST}:8080`, inboundPort, weight: 1, labels: {} })(meshRequest({ protocol: 'http/1.1' })));
    expect(err.code).toBe('UPSTREAM_RESET');
    await c.close();
  });
});
