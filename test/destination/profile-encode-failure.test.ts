// A profile that cannot be encoded for the wire (a bug, or data nobody foresaw) ends that one
// GetProfile stream with an INTERNAL status that says what failed for which service, logs the
// same, and leaves every other stream, and the discovery's refresh, going. Real store over a
// folder, real gRPC server and client; only the profile's wire form is broken, on purpose.
import * as grpc from '@grpc/grpc-js';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { destinationProto } from '../../api/destination-proto.ts';
import { profileToWire } from '../../api/destination-wire.ts';
import { destinationServiceDefinition, profileHandler } from '../../destination/grpc/profile-stream.ts';
import { DEFAULT_CLUSTER_NETWORKS, Discovery } from '../../destination/index/discovery.ts';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import { FIXTURES, waitFor } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'mesh-profile-encode-'));
cpSync(join(FIXTURES, 'lesson'), dir, { recursive: true });
const lines: Array<{ level: number; msg: string; authority?: string; service?: string }> = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _e, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }));
const store = new ResourceStore({ dir, logger, debounceMs: 20 });
store.start();
const discovery = new Discovery(store, { defaultPolicy: 'all-unauthenticated', clusterNetworks: DEFAULT_CLUSTER_NETWORKS });

/** When set, the orders profile's wire form has a field of the wrong shape, which the serializer refuses. */
let breakOrders = false;
const toWire = (p: Parameters<typeof profileToWire>[0]): ProfileUpdateMessage => {
  const message = profileToWire(p);
  return breakOrders && p.fqdn.startsWith('orders.') ? ({ ...message, routes: 'not a list' } as unknown as ProfileUpdateMessage) : message;
};

const server = new grpc.Server();
server.addService(destinationServiceDefinition(), { getProfile: profileHandler(discovery, logger, toWire), getEndpoints: () => {} });
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
const Destination = destinationProto().Destination;
const client = new Destination(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
  getProfile(req: { authority: string; contextNamespace: string }): grpc.ClientReadableStream<ProfileUpdateMessage>;
  close(): void;
};

afterAll(async () => {
  client.close();
  await new Promise<void>((r) => server.tryShutdown(() => r()));
  store.stop();
  discovery.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A GetProfile stream: the messages so far, and how it ended. */
function watch(authority: string) {
  const got: ProfileUpdateMessage[] = [];
  let ended: grpc.ServiceError | undefined;
  const stream = client.getProfile({ authority, contextNamespace: 'production' });
  stream.on('data', (m: ProfileUpdateMessage) => got.push(m));
  stream.on('error', (err: grpc.ServiceError) => (ended = err));
  return { got, ended: () => ended, cancel: () => stream.cancel() };
}

describe('a profile that cannot be encoded', () => {
  it('ends its own stream with a status and a log line naming the service; other streams keep their updates', async () => {
    const orders = watch('orders.production.svc.cluster.local:8080');
    const checkout = watch('checkout.production.svc.cluster.local:8080');
    await waitFor(() => orders.got.length === 1 && checkout.got.length === 1, 10_000, 'both first profiles');

    // Both profiles change in the same refresh; the orders one can no longer be encoded.
    breakOrders = true;
    writeFileSync(join(dir, 'lesson.yaml'), readFileSync(join(dir, 'lesson.yaml'), 'utf8').replace('timeout: 200ms', 'timeout: 300ms'));
    writeFileSync(join(dir, 'checkout-profile.yaml'), `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: checkout.production.svc.cluster.local, namespace: production}
spec:
  routes: [{name: POST /checkout, condition: {method: POST, pathRegex: /checkout}, timeout: 1s}]
`);
    await waitFor(() => orders.ended() !== undefined && checkout.got.length === 2, 10_000, 'the orders stream to end and the checkout update');
    expect(orders.ended()!.code).toBe(grpc.status.INTERNAL);
    expect(orders.ended()!.details).toMatch(/^profile of orders\.production\.svc\.cluster\.local \(asked as "orders\.production\.svc\.cluster\.local:8080" from namespace "production"\) could not be encoded: .*routes/);
    expect(checkout.got[1]!.routes?.map((r) => r.name)).toEqual(['POST /checkout']);
    const logged = lines.filter((l) => l.level === 50);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.service).toBe('orders.production.svc.cluster.local');
    expect(logged[0]!.msg).toContain('could not be encoded');

    // A new stream for the broken profile is refused the same way at once; checkout goes on.
    const again = watch('orders.production.svc.cluster.local:8080');
    await waitFor(() => again.ended() !== undefined, 10_000, 'the new orders stream to be refused');
    expect(again.ended()!.code).toBe(grpc.status.INTERNAL);
    expect(again.got).toHaveLength(0);
    writeFileSync(join(dir, 'checkout-profile.yaml'), readFileSync(join(dir, 'checkout-profile.yaml'), 'utf8').replace('timeout: 1s', 'timeout: 2s'));
    await waitFor(() => checkout.got.length === 3, 10_000, 'a further checkout update');
    expect(checkout.ended()).toBeUndefined();
    checkout.cancel();
  });
});
