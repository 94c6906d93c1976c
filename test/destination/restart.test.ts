// The destination killed under running clients: they keep their last state; after it restarts
// on the same address they reconnect, re-register, and see new changes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addresses, pod, harnessForFile, until, waitFor, } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const h = harnessForFile('lesson', `${NET}.4`, 3_000);

describe('destination restart', () => {
  it('clients keep the last endpoints and profile, then reconnect, re-register and follow new changes', async () => {
    const stableA = await h.client('production/orders', { pod: pod('stable-a', `${NET}.41`, { app: 'orders', track: 'stable' }) });
    const checkout = await h.client('production/checkout', { namespace: 'production', pod: pod('checkout-1', `${NET}.40`, { app: 'checkout' }) });
    const endpoints = checkout.endpoints('orders-stable:8080');
    const profile = checkout.profile('orders:8080');
    await until(endpoints, (s) => addresses(s).join() === `${NET}.41:8080`);
    await profile.first(5_000);
    const registrations: string[] = [];
    stableA.registration.subscribe((r) => registrations.push(r.message));

    // Watched from before the stop: the set must not go empty while down nor after the restart.
    let sawEmpty = false;
    endpoints.subscribe((s) => (sawEmpty ||= addresses(s).length === 0));
    await h.server.close();
    await new Promise((r) => setTimeout(r, 600)); // several failed reconnects happen meanwhile
    expect(addresses(endpoints.get())).toEqual([`${NET}.41:8080`]);
    expect(profile.get()!.httpRoutes[0]!.rules[0]!.backends.map((b) => b.weight)).toEqual([90, 10]);

    // While it is down, the split changes in the folder.
    const file = join(h.dir, 'lesson.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('weight: 90', 'weight: 70').replace('weight: 10', 'weight: 30'));

    const restartedAt = Date.now();
    await h.restart();
    // The pod re-registers on the new process.
    await until(stableA.registration, () => registrations.length > 0, 5_000, 're-registration');
    expect(registrations[0]).toBe('registered production/stable-a as spiffe://cluster.local/ns/production/sa/orders');
    await waitFor(() => h.server.discovery.pods.all().length === 2, 5_000, 'both pods registered');
    await until(profile, (p) => p.httpRoutes[0]?.rules[0]?.backends.map((b) => b.weight).join() === '70,30', 5_000, 'new weights');
    console.log(`clients back in sync ${Date.now() - restartedAt} ms after the restart`);

    const stableB = await h.client('production/orders', { pod: pod('stable-b', `${NET}.42`, { app: 'orders', track: 'stable' }) });
    await until(endpoints, (s) => addresses(s).join() === `${NET}.41:8080,${NET}.42:8080`, 5_000, 'new replica after restart');
    expect(sawEmpty).toBe(false);
    stableB.close();
    await until(endpoints, (s) => addresses(s).join() === `${NET}.41:8080`, 5_000, 'replica left after restart');
  });
});
