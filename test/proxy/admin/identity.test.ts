// The admin's GET /identity: the chain a proxy presents, the anchors it trusts and its clock,
// never its key; what `mesh check` reads.
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { AdminServer } from '../../../proxy/admin/server.ts';
import { ProxyMetrics } from '../../../proxy/metrics/index.ts';
import { testPki } from '../../helpers/pki.ts';
import type { TlsCredentials } from '../../../proxy/identity/credentials.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const POD = `${NET}.30`;
const servers: AdminServer[] = [];
afterEach(async () => Promise.all(servers.splice(0).map((s) => s.close())));

async function admin(credentials?: TlsCredentials): Promise<string> {
  const server = new AdminServer({ host: POD, port: 0, metrics: new ProxyMetrics(), isReady: () => true, onShutdown: () => {}, logger: pino({ level: 'silent' }), credentials });
  servers.push(server);
  return `http://${POD}:${(await server.listen()).port}/identity`;
}

describe('GET /identity', () => {
  it('gives the identity, the presented chain, the anchors and the clock; no key', async () => {
    const pki = await testPki();
    const creds = await pki.credentialsFor('production/orders');
    const before = Date.now();
    const res = await fetch(await admin(creds));
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(text).not.toMatch(/PRIVATE KEY/);
    const body = JSON.parse(text) as { identity: string; now: string; certificateChainPem: string; trustAnchorsPem: string };
    expect(body.identity).toBe('spiffe://cluster.local/ns/production/sa/orders');
    expect(new X509Certificate(body.certificateChainPem).subjectAltName).toBe('URI:spiffe://cluster.local/ns/production/sa/orders');
    expect(body.trustAnchorsPem).toBe(pki.anchorPem);
    expect(Date.parse(body.now)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(body.now)).toBeLessThanOrEqual(Date.now());
  });

  it('says so when the proxy runs without identity', async () => {
    const body = await (await fetch(await admin())).json();
    expect(body).toMatchObject({ identity: null, certificateChainPem: null, trustAnchorsPem: null });
  });
});
