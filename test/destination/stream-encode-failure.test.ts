// Endpoints (GetEndpoints), a profile (GetProfile) and a port's inbound policy (WatchPort) that
// cannot be encoded for the wire (a bug, or data nobody foresaw) end that one stream with an
// INTERNAL status saying what failed for which service or pod port, log the same, and leave every
// other stream, and the discovery's refresh, going. Real
// store over a folder, real gRPC server and client; only the wire form is broken, on purpose.
import * as grpc from '@grpc/grpc-js';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { EndpointMessage, EndpointUpdateMessage, InboundPolicyMessage, ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { destinationProto } from '../../api/destination-proto.ts';
import type { Endpoint, InboundPolicy, Profile } from '../../api/destination-types.ts';
import { endpointToWire, policyToWire, profileToWire } from '../../api/destination-wire.ts';
import { endpointsHandler } from '../../destination/grpc/endpoints-stream.ts';
import { inboundPoliciesServiceDefinition, policyHandler } from '../../destination/grpc/policy-stream.ts';
import { destinationServiceDefinition } from '../../destination/grpc/destination-service.ts';
import { profileHandler } from '../../destination/grpc/profile-stream.ts';
import { DEFAULT_CLUSTER_NETWORKS, Discovery } from '../../destination/index/discovery.ts';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import { FIXTURES, pod, waitFor } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'mesh-stream-encode-'));
cpSync(join(FIXTURES, 'lesson'), dir, { recursive: true });
const lines: Array<{ level: number; msg: string; authority?: string; service?: string; workload?: string; port?: number }> = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _e, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }));
const store = new ResourceStore({ dir, logger, debounceMs: 20 });
store.start();
const discovery = new Discovery(store, { defaultPolicy: 'all-unauthenticated', clusterNetworks: DEFAULT_CLUSTER_NETWORKS, registrationGraceMs: 0 });
const register = (name: string, ip: string, app: string) =>
  discovery.pods.register({ ...pod(name, ip, { app }), inboundPort: 4143, identity: `spiffe://cluster.local/ns/production/sa/${app}`, serviceAccount: app, ready: true });
register('orders-0', '10.9.0.1', 'orders');
register('checkout-0', '10.9.0.2', 'checkout');

/** When set, the orders pods' endpoints, the orders profile and port 9090's policy get a field of the wrong shape, which the serializer refuses. */
let broken = false;
const endpointWire = (e: Endpoint): EndpointMessage => {
  const message = endpointToWire(e);
  return broken && e.labels['app'] === 'orders' ? ({ ...message, metricLabels: 'not a map' } as unknown as EndpointMessage) : message;
};
const profileWire = (p: Profile): ProfileUpdateMessage => {
  const message = profileToWire(p);
  return broken && p.fqdn.startsWith('orders.') ? ({ ...message, routes: 'not a list' } as unknown as ProfileUpdateMessage) : message;
};
const policyWire = (p: InboundPolicy): InboundPolicyMessage => {
  const message = policyToWire(p);
  return broken && p.port === 9090 ? ({ ...message, authorizations: 'not a list' } as unknown as InboundPolicyMessage) : message;
};

const server = new grpc.Server();
server.addService(destinationServiceDefinition(), { getEndpoints: endpointsHandler(discovery, logger, endpointWire), getProfile: profileHandler(discovery, logger, profileWire) });
server.addService(inboundPoliciesServiceDefinition(), { watchPort: policyHandler(discovery, logger, policyWire) });
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
const proto = destinationProto();
const destination = new proto.Destination(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
  getEndpoints(req: { authority: string; contextNamespace: string }): grpc.ClientReadableStream<EndpointUpdateMessage>;
  getProfile(req: { authority: string; contextNamespace: string }): grpc.ClientReadableStream<ProfileUpdateMessage>;
  close(): void;
};
const policies = new proto.InboundPolicies(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
  watchPort(req: { workload: string; port: number }): grpc.ClientReadableStream<InboundPolicyMessage>;
  close(): void;
};

afterAll(() => {
  destination.close();
  policies.close();
  server.forceShutdown(); // a failed expectation may leave a stream open
  store.stop();
  discovery.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A stream's messages so far, and how it ended. */
function watch<M>(stream: grpc.ClientReadableStream<M>) {
  const got: M[] = [];
  let ended: grpc.ServiceError | undefined;
  stream.on('data', (m: M) => got.push(m));
  stream.on('error', (err: grpc.ServiceError) => (ended = err));
  return { got, ended: () => ended, cancel: () => stream.cancel() };
}

/** A Server for checkout's port 8080, speaking `protocol`. */
const checkoutServer = (protocol: string) => `
apiVersion: policy.linkerd.io/v1beta1
kind: Server
metadata: {name: checkout-http, namespace: production}
spec:
  podSelector: {matchLabels: {app: checkout}}
  port: 8080
  proxyProtocol: ${protocol}
`;

/** The one error line logged (since the last test cleared them). */
function theErrorLine() {
  const errors = lines.filter((l) => l.level === 50);
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

/** A new stream for what cannot be encoded is refused at once (INTERNAL, nothing sent) and keeps no watch: `hub` holds only the other stream's. */
async function expectRefusedAgain<M>(again: ReturnType<typeof watch<M>>, hub: 'endpointHub' | 'profileHub' | 'policyHub') {
  await waitFor(() => again.ended() !== undefined, 10_000, 'the new orders stream to be refused');
  expect([again.ended()!.code, again.got.length]).toEqual([grpc.status.INTERNAL, 0]);
  expect(discovery[hub].size).toBe(1);
}

describe('a message that cannot be encoded', () => {
  it('ends its own endpoints stream with a status and a log line naming the service; other streams keep their updates', async () => {
    const ask = (authority: string) => watch(destination.getEndpoints({ authority, contextNamespace: 'production' }));
    const orders = ask('orders.production.svc.cluster.local:8080');
    const checkout = ask('checkout.production.svc.cluster.local:8080');
    await waitFor(() => orders.got.length === 1 && checkout.got.length === 1, 10_000, 'both first endpoint sets');
    expect(orders.got[0]!.add?.endpoints?.map((e) => e.address)).toEqual(['10.9.0.1:8080']);

    // A pod joins each Service; the orders endpoints can no longer be encoded.
    broken = true;
    register('orders-1', '10.9.0.3', 'orders');
    register('checkout-1', '10.9.0.4', 'checkout');
    await waitFor(() => orders.ended() !== undefined && checkout.got.length === 2, 10_000, 'the orders stream to end and the checkout update');
    expect(orders.ended()!.code).toBe(grpc.status.INTERNAL);
    expect(discovery['endpointHub'].size).toBe(1); // the failed stream's watch is stopped: only checkout's is left
    expect(orders.ended()!.details).toMatch(/^endpoints of orders\.production\.svc\.cluster\.local:8080 \(asked from namespace "production"\) could not be encoded: .*metricLabels/);
    expect(orders.got).toHaveLength(1);
    expect(checkout.got[1]!.add?.endpoints?.map((e) => e.address)).toEqual(['10.9.0.4:8080']);
    const logged = theErrorLine();
    expect(logged.authority).toBe('orders.production.svc.cluster.local:8080');
    expect(logged.msg).toContain('could not be encoded');

    // A new stream for the broken endpoints is refused the same way at once; checkout goes on.
    await expectRefusedAgain(ask('orders.production.svc.cluster.local:8080'), 'endpointHub');
    register('checkout-2', '10.9.0.5', 'checkout');
    await waitFor(() => checkout.got.length === 3, 10_000, 'a further checkout update');
    expect(checkout.ended()).toBeUndefined();
    checkout.cancel();
    broken = false;
    lines.length = 0;
  });

  it('ends its own profile stream with a status and a log line naming the service; other streams keep their updates', async () => {
    const ask = (authority: string) => watch(destination.getProfile({ authority, contextNamespace: 'production' }));
    const orders = ask('orders.production.svc.cluster.local:8080');
    const checkout = ask('checkout.production.svc.cluster.local:8080');
    await waitFor(() => orders.got.length === 1 && checkout.got.length === 1, 10_000, 'both first profiles');

    // Both profiles change in the same refresh; the orders one can no longer be encoded.
    broken = true;
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
    expect(discovery['profileHub'].size).toBe(1); // the failed stream's watch is stopped: only checkout's is left
    expect(orders.ended()!.details).toMatch(/^profile of orders\.production\.svc\.cluster\.local \(asked as "orders\.production\.svc\.cluster\.local:8080" from namespace "production"\) could not be encoded: .*routes/);
    expect(checkout.got[1]!.routes?.map((r) => r.name)).toEqual(['POST /checkout']);
    const logged = theErrorLine();
    expect(logged.service).toBe('orders.production.svc.cluster.local');
    expect(logged.msg).toContain('could not be encoded');

    // A new stream for the broken profile is refused the same way at once; checkout goes on.
    await expectRefusedAgain(ask('orders.production.svc.cluster.local:8080'), 'profileHub');
    writeFileSync(join(dir, 'checkout-profile.yaml'), readFileSync(join(dir, 'checkout-profile.yaml'), 'utf8').replace('timeout: 1s', 'timeout: 2s'));
    await waitFor(() => checkout.got.length === 3, 10_000, 'a further checkout update');
    expect(checkout.ended()).toBeUndefined();
    checkout.cancel();
    broken = false;
    lines.length = 0;
  });

  it('ends its own policy stream with a status and a log line naming the pod port and Server; other ports keep their updates', async () => {
    const ask = (workload: string, p: number) => watch(policies.watchPort({ workload, port: p }));
    const orders = ask('production/orders-0', 9090);
    const checkout = ask('production/checkout-0', 8080);
    await waitFor(() => orders.got.length === 1 && checkout.got.length === 1, 10_000, 'both first policies');
    expect(orders.got[0]!.server?.name).toBe('production/orders-grpc');

    // The orders Server gains an authorization and checkout's port gets a Server; port 9090's policy can no longer be encoded.
    broken = true;
    writeFileSync(join(dir, 'more.yaml'), `
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: orders-grpc-allow-web, namespace: production}
spec:
  server: {name: orders-grpc}
  client: {meshTLS: {serviceAccounts: [{name: web, namespace: production}]}}
---${checkoutServer('HTTP/1')}`);
    await waitFor(() => orders.ended() !== undefined && checkout.got.some((m) => m.server?.name === 'production/checkout-http'), 10_000, 'the orders stream to end and the checkout update');
    expect(orders.ended()!.code).toBe(grpc.status.INTERNAL);
    expect(discovery['policyHub'].size).toBe(1); // the failed stream's watch is stopped: only checkout's is left
    expect(orders.ended()!.details).toMatch(/^policy of port 9090 of pod production\/orders-0 \(Server production\/orders-grpc\) could not be encoded: .*authorizations/);
    expect(orders.got).toHaveLength(1);
    const logged = theErrorLine();
    expect([logged.workload, logged.port]).toEqual(['production/orders-0', 9090]);

    // A new stream for the broken port is refused the same way; checkout goes on.
    await expectRefusedAgain(ask('production/orders-0', 9090), 'policyHub');
    const before = checkout.got.length;
    writeFileSync(join(dir, 'more.yaml'), checkoutServer('HTTP/2'));
    await waitFor(() => checkout.got.length > before, 10_000, 'a further checkout update');
    expect(checkout.got.at(-1)!.server?.protocol).not.toBe(checkout.got[before - 1]!.server?.protocol);
    expect(checkout.ended()).toBeUndefined();
    checkout.cancel();
  });
});
