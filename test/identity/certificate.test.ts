// The workload certificate as peers and operators see it: node:crypto, `openssl x509`, `openssl verify`, real TLS.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../identity/ca.ts';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';
import { StaticCredentials } from '../../proxy/identity/static-credentials.ts';
import { testPki, type TestPki } from '../helpers/pki.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const ORDERS = 'spiffe://cluster.local/ns/production/sa/orders';
const DAY = 24 * 3_600_000;

let pki: TestPki;
let other: TestPki;
let orders: StaticCredentials;
let dir: string;

beforeAll(async () => {
  [pki, other] = await Promise.all([testPki(), testPki()]);
  orders = await pki.credentialsFor('production/orders');
  dir = mkdtempSync(join(tmpdir(), 'mesh-cert-'));
  writeFileSync(join(dir, 'ca.crt'), pki.anchorPem);
  writeFileSync(join(dir, 'issuer.crt'), pki.ca.material.issuerChainPem);
  writeFileSync(join(dir, 'leaf.crt'), new X509Certificate(orders.current().cert as string).toString());
});

describe('workload certificate', () => {
  it('reads right with node:crypto X509Certificate', () => {
    const leaf = new X509Certificate(orders.current().cert as string);
    const issuer = new X509Certificate(pki.ca.material.issuerChainPem);
    const anchor = new X509Certificate(pki.anchorPem);
    expect(leaf.subjectAltName).toBe(`URI:${ORDERS}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // Node lists extKeyUsage here
    const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(lifetime).toBeGreaterThanOrEqual(DAY);
    expect(lifetime).toBeLessThanOrEqual(DAY + CLOCK_SKEW_ALLOWANCE_MS + 1_000);
    expect(Date.parse(leaf.validFrom)).toBeLessThan(Date.now() - CLOCK_SKEW_ALLOWANCE_MS + 2_000);
    expect(leaf.checkIssued(issuer)).toBe(true);
    expect(leaf.verify(issuer.publicKey)).toBe(true);
    expect(issuer.verify(anchor.publicKey)).toBe(true);
    expect(anchor.verify(anchor.publicKey)).toBe(true);
    expect(Date.parse(anchor.validTo) - Date.now()).toBeGreaterThan(3_649 * DAY);
    expect(Date.parse(issuer.validTo) - Date.now()).toBeGreaterThan(364 * DAY);
  });

  it('reads right with openssl x509 -text', () => {
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.crt'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain(`URI:${ORDERS}`);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain('Issuer: CN = identity.cluster.local');
    const dates = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.crt'), '-noout', '-startdate', '-enddate'], { encoding: 'utf8' });
    const [, from] = /notBefore=(.+)/.exec(dates)!;
    const [, to] = /notAfter=(.+)/.exec(dates)!;
    const lifetime = Date.parse(to!) - Date.parse(from!);
    expect(lifetime - DAY).toBeGreaterThanOrEqual(0);
    expect(lifetime - DAY).toBeLessThanOrEqual(CLOCK_SKEW_ALLOWANCE_MS + 1_000);
  });

  it('verifies to the anchor with openssl verify, and not to another anchor', () => {
    const ok = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), '-untrusted', join(dir, 'issuer.crt'), join(dir, 'leaf.crt')], { encoding: 'utf8' });
    expect(ok.trim()).toBe(`${join(dir, 'leaf.crt')}: OK`);
    writeFileSync(join(dir, 'other.crt'), other.anchorPem);
    expect(() =>
      execFileSync('openssl', ['verify', '-CAfile', join(dir, 'other.crt'), '-untrusted', join(dir, 'issuer.crt'), join(dir, 'leaf.crt')], { stdio: 'pipe' }),
    ).toThrow(/unable to get (local issuer|issuer) certificate/);
  });

  it('has a random serial per certificate', async () => {
    const again = await pki.credentialsFor(ORDERS);
    const a = new X509Certificate(orders.current().cert as string).serialNumber;
    const b = new X509Certificate(again.current().cert as string).serialNumber;
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(30);
  });

  it('never outlives its issuer', () => {
    const issuerEnd = pki.ca.issuerNotAfterMs;
    const issued = pki.ca.issue(new X509Certificate(orders.current().cert as string).publicKey.export({ format: 'pem', type: 'spki' }) as string, { uri: ORDERS }, { lifetimeMs: 5 * 365 * DAY });
    expect(issued.notAfterMs).toBe(issuerEnd);
  });
});

/**
 * One TLS 1.3 handshake with client certificates. The server does not reject by itself but reports
 * `authorizationError` (as the inbound proxy does, to log why); the client rejects an untrusted server.
 */
function handshake(
  server: StaticCredentials,
  client: StaticCredentials,
): Promise<{ serverSaw?: string; serverRefused?: string; clientSaw?: string; clientRefused?: string }> {
  return new Promise((resolve) => {
    const srv = createServer({ ...server.current(), ca: server.trustAnchorsPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (s: TLSSocket) => {
      s.on('error', () => undefined);
      if (!s.authorized) s.end(`refused:${String(s.authorizationError)}`);
      else s.end(`saw:${spiffeIdOfPeer(s.getPeerCertificate().subjectaltname)}`);
    });
    srv.listen(0, `${NET}.2`, () => {
      const { port } = srv.address() as { port: number };
      const sock = connect({ host: `${NET}.2`, port, ...client.current(), ca: client.trustAnchorsPem, checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' });
      let body = '';
      sock.on('data', (d: Buffer) => (body += d.toString()));
      sock.on('end', () => {
        srv.close();
        const [kind, value] = [body.slice(0, body.indexOf(':')), body.slice(body.indexOf(':') + 1)];
        const clientSaw = spiffeIdOfPeer(sock.getPeerCertificate()?.subjectaltname);
        resolve(kind === 'saw' ? { serverSaw: value, clientSaw } : { serverRefused: value, clientSaw });
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        srv.close();
        resolve({ clientRefused: err.code ?? err.message });
      });
    });
  });
}

describe('TLS 1.3 with test PKI credentials', () => {
  it('completes mutual TLS and each side reads the other\'s SPIFFE id', async () => {
    const payments = await pki.credentialsFor('production/payments');
    const r = await handshake(payments, orders);
    expect(r).toEqual({ serverSaw: ORDERS, clientSaw: 'spiffe://cluster.local/ns/production/sa/payments' });
  });

  it('refuses a client from another trust anchor', async () => {
    const fromOther = await other.credentialsFor('production/orders');
    // It trusts our server (both anchors), so only the server's judgement is tested.
    const { key, cert } = fromOther.current();
    const stranger = new StaticCredentials(fromOther.identity, other.anchorPem + pki.anchorPem, { keyPem: key as string, certChainPem: cert as string });
    const r = await handshake(orders, stranger);
    expect(r.serverRefused).toMatch(/^UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)$/);
  });

  it('refuses a server from another trust anchor', async () => {
    const stranger = await other.credentialsFor('production/payments');
    const r = await handshake(stranger, orders);
    expect(r.clientRefused).toMatch(/^UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)$/);
  });

  it('refuses an expired certificate', async () => {
    const expired = await pki.expiredCredentialsFor('production/orders');
    expect(Date.parse(new X509Certificate(expired.current().cert as string).validTo)).toBeLessThan(Date.now());
    expect(await handshake(orders, expired)).toMatchObject({ serverRefused: 'CERT_HAS_EXPIRED' });
    expect(await handshake(expired, orders)).toEqual({ clientRefused: 'CERT_HAS_EXPIRED' });
  });

  it('rotates: replace() swaps the material and fires onRotate', async () => {
    const creds = await pki.credentialsFor('production/checkout');
    let rotations = 0;
    const off = creds.onRotate(() => rotations++);
    const before = new X509Certificate(creds.current().cert as string).serialNumber;
    await pki.renew(creds, { lifetimeMs: 60_000 });
    off();
    expect(rotations).toBe(1);
    expect(new X509Certificate(creds.current().cert as string).serialNumber).not.toBe(before);
  });
});
