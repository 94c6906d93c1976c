// The CA over real gRPC/TLS: issues for a matching token and CSR, refuses every mismatch with a precise status.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningIdentityServer } from '../../identity/server.ts';
import { createCsrDer } from '../../proxy/identity/csr.ts';
import { nodeRsaSigner } from '../../api/rsa-signer.ts';
import { generateRsaKeyPair, type RsaKeyPair } from '../../api/keypair.ts';
import { caFixture, memoryLogger, rawCertify, serveCa, type CaFixture } from './fixture.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const ORDERS = 'spiffe://cluster.local/ns/production/sa/orders';
const PAYMENTS = 'spiffe://cluster.local/ns/production/sa/payments';

let f: CaFixture;
let server: RunningIdentityServer;
let client: ReturnType<typeof rawCertify>;
let keys: RsaKeyPair;
let otherKeys: RsaKeyPair;
const logs = memoryLogger();

beforeAll(async () => {
  f = await caFixture();
  [keys, otherKeys] = await Promise.all([generateRsaKeyPair(), generateRsaKeyPair()]);
  server = await serveCa(f, `${NET}.1:0`, 24 * 3_600_000, logs.logger);
  client = rawCertify(server.addr, f.ca.material.trustAnchorsPem);
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

async function refusal(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e as grpc.ServiceError,
  );
  if (!err) throw new Error('expected a refusal, got a certificate');
  return err;
}

describe('Certify', () => {
  it('issues a 24 h certificate for the token\'s identity, chained to the anchor', async () => {
    const res = await client.certify(ORDERS, f.token('production', 'orders'), createCsrDer(ORDERS, keys.privateKey));
    const leaf = new X509Certificate(res.leafCertificate);
    expect(leaf.subjectAltName).toBe(`URI:${ORDERS}`);
    expect(leaf.checkPrivateKey(keys.privateKey)).toBe(true);
    expect(res.intermediateCertificates).toHaveLength(1);
    const issuer = new X509Certificate(res.intermediateCertificates[0]!);
    expect(leaf.verify(issuer.publicKey)).toBe(true);
    expect(Number(res.validUntilMs)).toBe(Date.parse(leaf.validTo));
    expect(Number(res.validUntilMs) - Date.now()).toBeGreaterThan(24 * 3_600_000 - 60_000);
    expect(logs.lines.some((l) => l.msg === 'issued certificate' && l.identity === ORDERS)).toBe(true);
  });

  it('refuses a token for X with a CSR for Y, naming both', async () => {
    const err = await refusal(client.certify(PAYMENTS, f.token('production', 'orders'), createCsrDer(PAYMENTS, keys.privateKey)));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toContain('IDENTITY_MISMATCH');
    expect(err.details).toContain(PAYMENTS);
    expect(err.details).toContain(ORDERS);
  });

  it('refuses a CSR whose URI SAN differs from the (matching) requested identity and token', async () => {
    const err = await refusal(client.certify(ORDERS, f.token('production', 'orders'), createCsrDer(PAYMENTS, keys.privateKey)));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toMatch(/CSR_IDENTITY_MISMATCH: CSR asks for URI SAN ".*payments" but the token proves ".*orders"/);
  });

  it.each([
    ['forged (signed by another key)', () => caFixture().then((other) => other.token('production', 'orders')), 'TOKEN_FORGED'],
    ['expired', async () => f.token('production', 'orders', { nowMs: Date.now() - 3 * 3_600_000, ttlMs: 3_600_000 }), 'TOKEN_EXPIRED'],
    ['for another audience', async () => f.token('production', 'orders', { audience: 'kubernetes.default.svc' }), 'TOKEN_WRONG_AUDIENCE'],
    ['not a JWT', async () => 'not-a-token', 'TOKEN_MALFORMED'],
  ])('refuses a token that is %s', async (_what, makeToken, reason) => {
    const err = await refusal(client.certify(ORDERS, await makeToken(), createCsrDer(ORDERS, keys.privateKey)));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toContain(reason);
    expect(logs.lines.some((l) => l.msg?.toString().startsWith('refused certificate') && l.reason === reason)).toBe(true);
  });

  it('refuses a token whose payload was edited (signature no longer matches)', async () => {
    const [h, , s] = f.token('production', 'orders').split('.');
    const payload = Buffer.from(JSON.stringify({ aud: 'identity.mesh', ns: 'production', sa: 'payments', exp: 9e9 })).toString('base64url');
    const err = await refusal(client.certify(PAYMENTS, `${h}.${payload}.${s}`, createCsrDer(PAYMENTS, keys.privateKey)));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toContain('TOKEN_FORGED');
  });

  it('refuses a malformed CSR with the parser\'s reason', async () => {
    const good = createCsrDer(ORDERS, keys.privateKey);
    for (const bad of [Buffer.from('garbage'), good.subarray(0, good.length - 10), Buffer.alloc(0)]) {
      const err = await refusal(client.certify(ORDERS, f.token('production', 'orders'), bad));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/^MALFORMED_CSR: certificate_signing_request (is empty|is not a DER PKCS#10 RSA CSR: .+)/);
    }
  });

  it('refuses a CSR whose signature does not match the key it carries', async () => {
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = keys.forgePublicKey;
    csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: ORDERS }] }] }]);
    csr.sign(nodeRsaSigner(otherKeys.privateKey), forge.md.sha256.create()); // someone else's key
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary');
    const err = await refusal(client.certify(ORDERS, f.token('production', 'orders'), der));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('BAD_CSR_SIGNATURE');
  });

  it('refuses a CSR for a key too short to be safe', async () => {
    const weak = await generateRsaKeyPair(1024);
    const err = await refusal(client.certify(ORDERS, f.token('production', 'orders'), createCsrDer(ORDERS, weak.privateKey)));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('WEAK_CSR_KEY: CSR key is RSA 1024 bits; at least 2048 are required');
  });

  it('refuses an oversized request before decoding it, and keeps serving', async () => {
    const csr = createCsrDer(ORDERS, keys.privateKey);
    const err = await refusal(client.certify(ORDERS, 'x'.repeat(256 * 1024), csr));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const res = await client.certify(ORDERS, f.token('production', 'orders'), csr);
    expect(new X509Certificate(res.leafCertificate).subjectAltName).toBe(`URI:${ORDERS}`);
  });

  it('refuses an identity outside the trust domain or not a SPIFFE id', async () => {
    const token = f.token('production', 'orders');
    const csr = createCsrDer(ORDERS, keys.privateKey);
    const foreign = await refusal(client.certify('spiffe://evil.example/ns/production/sa/orders', token, csr));
    expect(foreign.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(foreign.details).toContain('WRONG_TRUST_DOMAIN');
    const junk = await refusal(client.certify('orders', token, csr));
    expect(junk.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(junk.details).toContain('BAD_IDENTITY');
  });

  it('serves TLS with its own SPIFFE id under the same anchor', async () => {
    expect(server.identity).toBe('spiffe://cluster.local/ns/mesh-system/sa/identity');
    // A client trusting another anchor cannot even connect.
    const stranger = await caFixture();
    const other = rawCertify(server.addr, stranger.ca.material.trustAnchorsPem);
    const err = await refusal(other.certify(ORDERS, f.token('production', 'orders'), createCsrDer(ORDERS, keys.privateKey)));
    other.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});
