// IdentityClient against a real CA over gRPC/TLS: first certificate, renewal at 70%, a CA that
// starts late, and servers that are not the CA (another chain; the right chain, another identity).
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningIdentityServer } from '../../../identity/server.ts';
import { IdentityClient } from '../../../proxy/identity/client.ts';
import { caFixture, memoryLogger, serveCa } from '../../identity/fixture.ts';
import { identityService } from '../../../api/identity-service.ts';
import { testPki } from '../../helpers/pki.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const ORDERS = 'spiffe://cluster.local/ns/production/sa/orders';
const quiet = pino({ level: 'silent' });
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value;
}

function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = async () => {
      if (await check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(() => void tick(), 50);
    };
    void tick();
  });
}

describe('IdentityClient', () => {
  it('gets a certificate for its key, then renews at 70% of a short lifetime and moves the expiry metric', async () => {
    const f = await caFixture();
    const server = await serveCa(f, `${NET}.3:0`, 4_000);
    cleanups.push(() => server.close());
    const registry = new Registry();
    const client = new IdentityClient({ addr: server.addr, trustAnchorsPem: f.ca.material.trustAnchorsPem, identity: ORDERS, token: f.token('production', 'orders'), registry, logger: quiet });
    cleanups.push(() => client.close());
    const rotations: number[] = [];
    client.onRotate(() => rotations.push(Date.now()));
    expect(client.isReady()).toBe(false);
    expect(() => client.current()).toThrow(/no certificate/);
    await client.whenReady();
    const first = client.current();
    const leaf = new X509Certificate(first.cert as string);
    expect(leaf.subjectAltName).toBe(`URI:${ORDERS}`);
    expect(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(first.key as string))).toBe(true);
    const firstExpiry = (await metric(registry, 'identity_cert_expiration_timestamp_seconds'))!;
    expect(firstExpiry * 1000).toBe(Date.parse(leaf.validTo));

    // 4 s lifetime: renewals near 2.8 s and 5.6 s. Wait for two, generously.
    await until(() => rotations.length >= 3, 15_000, 'two renewals');
    const laterExpiry = (await metric(registry, 'identity_cert_expiration_timestamp_seconds'))!;
    expect(laterExpiry).toBeGreaterThan(firstExpiry);
    expect(await metric(registry, 'identity_cert_renewals_total', { result: 'success' })).toBeGreaterThanOrEqual(3);
    expect(new X509Certificate(client.current().cert as string).serialNumber).not.toBe(leaf.serialNumber);
    // Same key across renewals (made once at start).
    expect(client.current().key).toBe(first.key);
    // Renewed before expiry: the gap between swaps is below the lifetime.
    expect(rotations[2]! - rotations[1]!).toBeLessThan(4_000);
  });

  it('stays not ready while the CA is down, and becomes ready when it starts (no restart)', async () => {
    const f = await caFixture();
    const addr = `${NET}.4:18080`;
    const registry = new Registry();
    const client = new IdentityClient({
      addr, trustAnchorsPem: f.ca.material.trustAnchorsPem, identity: ORDERS, token: f.token('production', 'orders'),
      registry, logger: quiet, retryMinMs: 100, retryMaxMs: 400,
    });
    cleanups.push(() => client.close());
    await until(async () => ((await metric(registry, 'identity_cert_renewals_total', { result: 'failure' })) ?? 0) >= 2, 10_000, 'failed attempts');
    expect(client.isReady()).toBe(false);
    const server: RunningIdentityServer = await serveCa(f, addr);
    cleanups.push(() => server.close());
    await until(() => client.isReady(), 10_000, 'readiness after the CA came up');
    expect(new X509Certificate(client.current().cert as string).subjectAltName).toBe(`URI:${ORDERS}`);
  });

  it('does not accept a CA that the anchors do not vouch for', async () => {
    const f = await caFixture();
    const impostor = await caFixture();
    const server = await serveCa(impostor, `${NET}.3:0`);
    cleanups.push(() => server.close());
    const registry = new Registry();
    const client = new IdentityClient({ addr: server.addr, trustAnchorsPem: f.ca.material.trustAnchorsPem, identity: ORDERS, token: f.token('production', 'orders'), registry, logger: quiet, retryMinMs: 100, retryMaxMs: 200 });
    cleanups.push(() => client.close());
    await until(async () => ((await metric(registry, 'identity_cert_renewals_total', { result: 'failure' })) ?? 0) >= 2, 10_000, 'failed attempts');
    expect(client.isReady()).toBe(false);
  });

  it('refuses a server whose certificate chains to the anchors but names another identity than the CA: clearly, and before sending it the token', async () => {
    // A workload of the mesh (valid chain, identity orders) posing as the CA on the CA's address.
    const pki = await testPki();
    const posing = (await pki.credentialsFor(ORDERS)).current();
    const requests: string[] = [];
    const server = new grpc.Server();
    server.addService(identityService().service, {
      Certify: (call: grpc.ServerUnaryCall<{ identity: string }, unknown>, done: grpc.sendUnaryData<unknown>) => {
        requests.push(call.request.identity);
        done({ code: grpc.status.INTERNAL, details: 'an impostor has no certificate to give' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${NET}.5:0`, grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(String(posing.key)), cert_chain: Buffer.from(String(posing.cert)) }]), (e, p) => (e ? reject(e) : resolve(p))),
    );
    cleanups.push(() => server.forceShutdown());
    const addr = `${NET}.5:${port}`;
    const { logger, lines } = memoryLogger();
    const registry = new Registry();
    const client = new IdentityClient({ addr, trustAnchorsPem: pki.anchorPem, identity: ORDERS, token: 'a secret token', registry, logger, retryMinMs: 100, retryMaxMs: 200 });
    cleanups.push(() => client.close());
    await until(async () => ((await metric(registry, 'identity_cert_renewals_total', { result: 'failure' })) ?? 0) >= 2, 10_000, 'failed attempts');
    expect(client.isReady()).toBe(false);
    expect(requests).toEqual([]);
    const refused = lines.find((l) => String(l.msg).startsWith('Certify failed'));
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', ca: addr });
    expect(refused!.msg).toContain(`the identity CA at ${addr} presented ${ORDERS}, expected spiffe://cluster.local/ns/mesh-system/sa/identity`);
  });
});
