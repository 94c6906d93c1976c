// Scale: 1,000 concurrent GetEndpoints streams on one authority all receive an update; the
// fan-out time (registration of a new pod -> last watcher has it) is printed.
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationStubs, type DestinationStubs } from '../../api/destination-channel.ts';
import { pod, startHarness, type Harness } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const WATCHERS = 1_000;
const CHANNELS = 10;

let h: Harness;
const channels: DestinationStubs[] = [];
beforeAll(async () => {
  h = await startHarness('lesson', `${NET}.5`);
});
afterAll(async () => {
  for (const c of channels) c.close();
  await h.close();
});

describe('fan-out', () => {
  it(`${WATCHERS} watchers of one authority all receive a new endpoint`, async () => {
    const creds = await h.pki.credentialsFor('production/checkout');
    for (let i = 0; i < CHANNELS; i++) channels.push(destinationStubs(h.server.address, { trustAnchorsPem: h.pki.anchorPem, client: creds }));
    const calls: grpc.ClientReadableStream<{ update: string; add?: { endpoints: Array<{ address: string }> } }>[] = [];
    let ready = 0;
    let got = 0;
    let lastAt = 0;
    let allReady!: () => void;
    let allGot!: () => void;
    const readyP = new Promise<void>((r) => (allReady = r));
    const gotP = new Promise<void>((r) => (allGot = r));
    for (let i = 0; i < WATCHERS; i++) {
      const call = channels[i % CHANNELS]!.destination.getEndpoints({ authority: 'orders-canary.production.svc.cluster.local:8080' }) as (typeof calls)[number];
      let first = true;
      call.on('data', (m) => {
        if (first) {
          first = false;
          expect(m.update).toBe('noEndpoints');
          if (++ready === WATCHERS) allReady();
          return;
        }
        if (m.update === 'add' && m.add!.endpoints[0]!.address === `${NET}.51:8080`) {
          lastAt = performance.now();
          if (++got === WATCHERS) allGot();
        }
      });
      call.on('error', () => undefined);
      calls.push(call);
    }
    await readyP;
    expect(h.server.discovery['endpointHub'].size).toBe(1); // one shared computation for all of them

    const started = performance.now();
    let registeredAt = 0;
    const off = h.server.discovery.pods.onChange(() => (registeredAt ||= performance.now()));
    const canary = await h.client('production/orders', { pod: pod('canary-1', `${NET}.51`, { app: 'orders', track: 'canary' }) });
    await gotP;
    off();
    const fanoutMs = lastAt - registeredAt;
    console.log(
      `fan-out: a pod registered on the server reached all ${WATCHERS} watchers in ${fanoutMs.toFixed(1)} ms ` +
        `(${(lastAt - started).toFixed(1)} ms including the new proxy's connect and registration; ${CHANNELS} connections)`,
    );
    expect(got).toBe(WATCHERS);
    expect(fanoutMs).toBeLessThan(15_000); // generous: the point is that every watcher got it
    canary.close();
    for (const c of calls) c.cancel();
  });
});
