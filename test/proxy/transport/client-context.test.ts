// The client TLS context is built once per certificate: connections share it until a rotation,
// after which new connections present the new certificate (real TLS 1.3 handshakes).
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spiffeIdOfPeer } from '../../../api/spiffe.ts';
import { clientSecureContext } from '../../../proxy/transport/client-context.ts';
import { dialAsync } from '../../../proxy/transport/dial.ts';
import { productionId } from '../../helpers/pki.ts';
import { SwappableCredentials, TestPki } from '../outbound/endpoint/fixtures/certs.ts';

const ORDERS = productionId('orders');
const CHECKOUT = productionId('checkout');

let pki: TestPki;
let server: Server;
let port: number;
/** Per accepted connection: the client's identity, its certificate's serial and the TLS version. */
const seen: Array<{ client: string | undefined; serial: string; version: string | null }> = [];

beforeAll(async () => {
  pki = new TestPki();
  const leaf = pki.leaf(ORDERS);
  server = createServer({ key: leaf.key, cert: leaf.cert, ca: pki.caPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] }, (socket: TLSSocket) => {
    const cert = socket.getPeerCertificate();
    seen.push({ client: spiffeIdOfPeer(cert.subjectaltname), serial: cert.serialNumber, version: socket.getProtocol() });
    socket.end();
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  pki.dispose();
});

async function connectOnce(creds: SwappableCredentials): Promise<void> {
  const socket = await dialAsync({
    host: '127.0.0.1', port, label: 'test endpoint', connectTimeoutMs: 10_000,
    tls: { credentials: creds, alpn: 'http/1.1', identity: ORDERS },
  });
  await new Promise((r) => { socket.on('close', r); socket.resume(); });
}

describe('the client TLS context', () => {
  it('is shared by connections until the certificate rotates, then the new one is presented', async () => {
    const creds = new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem);
    const first = clientSecureContext(creds);
    expect(clientSecureContext(creds)).toBe(first);
    await connectOnce(creds);
    await connectOnce(creds);
    expect(clientSecureContext(creds)).toBe(first);
    expect(seen[0]!.serial).toBe(seen[1]!.serial);

    creds.rotate(pki.leaf(CHECKOUT));
    const second = clientSecureContext(creds);
    expect(second).not.toBe(first);
    await connectOnce(creds);
    expect(clientSecureContext(creds)).toBe(second);
    expect(seen[2]!.client).toBe(CHECKOUT);
    expect(seen[2]!.serial).not.toBe(seen[0]!.serial);
    expect(seen.map((s) => s.version)).toEqual(['TLSv1.3', 'TLSv1.3', 'TLSv1.3']);
  });

  it('is kept apart for different credentials', () => {
    const a = new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem);
    const b = new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem);
    expect(clientSecureContext(a)).not.toBe(clientSecureContext(b));
  });
});
