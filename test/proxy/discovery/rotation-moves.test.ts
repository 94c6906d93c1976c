// A proxy's certificate rotates: its destination streams (watches and its pod's registration)
// move to a connection made with the new certificate, and the old connection closes. Left where
// they were, they would hold the old connection (presenting the old certificate) for as long as
// they live: one more destination connection per rotation. The registration moves make-before-
// break, so the pod never leaves its Service's endpoints. A real destination and CA; the
// connections are counted by the kernel's table (`ss`), the endpoints by a second client.
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSet } from '../../../api/destination-types.ts';
import { generateRsaKeyPair } from '../../../api/keypair.ts';
import { DestinationClient } from '../../../proxy/discovery/destination-client.ts';
import type { StaticCredentials } from '../../../proxy/identity/static-credentials.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { controlPlane, DESTINATION_IDENTITY, eventually, handMadeCredentials, type ControlPlane } from '../../helpers/control-plane.ts';

const NET = await addressBlock();
const POD_IP = `${NET}.61`;
const ORDERS_IDENTITY = 'spiffe://cluster.local/ns/production/sa/orders';
const STABLE = 'orders-stable.production.svc.cluster.local:8080';

let cp: ControlPlane;
let credentials: StaticCredentials;
let pod: DestinationClient;
let watcher: DestinationClient;
/** Every endpoint list the watcher saw for orders-stable, in order. */
const seen: string[][] = [];

const addressesOf = (set: EndpointSet | undefined) => (set?.kind === 'endpoints' ? set.endpoints.map((e) => e.address).sort() : []);

/** The local ports of this process's established connections to the destination (the kernel's table). */
function destinationConnections(): string[] {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', 'dst', cp.destination!.address], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/).at(-2)!).sort();
}

/** A new certificate for the same identity, from the same CA: what a renewal brings. */
async function rotate(): Promise<void> {
  const keys = await generateRsaKeyPair();
  const issued = cp.ca.issue(keys.forgePublicKey as Parameters<typeof cp.ca.issue>[0], { uri: ORDERS_IDENTITY });
  credentials.replace({ keyPem: keys.privateKeyPem, certChainPem: [issued.leafPem, ...issued.intermediatesPem].join('') });
}

beforeAll(async () => {
  cp = await controlPlane({ fixtures: ['lesson'] });
  await cp.startDestination(`${NET}.50:0`);
  credentials = await handMadeCredentials(cp.ca, ORDERS_IDENTITY);
  const common = { addr: cp.destination!.address, namespace: 'production', serverIdentity: DESTINATION_IDENTITY, backoff: { minMs: 50, maxMs: 500 }, logger: pino({ level: 'silent' }) };
  pod = new DestinationClient({
    ...common,
    credentials,
    pod: { name: 'orders-stable-9', namespace: 'production', labels: { app: 'orders', track: 'stable' }, ip: POD_IP, ports: [{ name: 'http', port: 8080 }] },
  });
  watcher = new DestinationClient({ ...common, credentials: await handMadeCredentials(cp.ca, 'spiffe://cluster.local/ns/production/sa/watcher') });
  const stable = watcher.endpoints(STABLE);
  stable.subscribe((set) => seen.push(addressesOf(set)));
  await eventually(() => addressesOf(stable.get()).includes(`${POD_IP}:8080`), 10_000, 'the pod registered');
  // The pod's proxy watches something of its own, as every proxy does.
  await pod.endpoints('orders-canary.production.svc.cluster.local:8080').first(10_000, 'canary endpoints');
}, 30_000);

afterAll(async () => {
  pod?.close();
  watcher?.close();
  await cp?.close();
});

describe('a certificate rotation', () => {
  it('moves the watches and the registration to one new connection, closes the old one, and the pod never leaves its endpoints', async () => {
    const before = destinationConnections();
    expect(before, 'one connection for each client').toHaveLength(2);
    const from = seen.length;
    await rotate();
    // The watcher's connection stays; the pod's is replaced by one made with the new certificate.
    await eventually(() => {
      const now = destinationConnections();
      return now.length === 2 && now.filter((p) => !before.includes(p)).length === 1;
    }, 15_000, 'the pod client on one new connection, the old one closed');
    // A watch asked for after the rotation takes the same new connection: still two in all.
    await pod.endpoints('orders.production.svc.cluster.local:8080').first(10_000, 'orders endpoints');
    expect(destinationConnections()).toHaveLength(2);
    expect(addressesOf(watcher.endpoints(STABLE).get())).toContain(`${POD_IP}:8080`);
    // Every list the watcher saw since the rotation still had the pod: it was replaced in place, not removed and added.
    for (const list of seen.slice(from)) expect(list).toContain(`${POD_IP}:8080`);
    expect(pod.registration.get()).toMatchObject({ accepted: true });
  }, 40_000);

  it('two rotations back to back leave one connection, and the pod registered throughout', async () => {
    const from = seen.length;
    const before = destinationConnections();
    expect(before).toHaveLength(2);
    await rotate();
    await rotate();
    await eventually(() => {
      const now = destinationConnections();
      return now.length === 2 && now.filter((p) => !before.includes(p)).length === 1;
    }, 15_000, 'one connection for the pod client after two rotations');
    // Still on it a while later: no registration left behind on a retired channel reopens one.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(destinationConnections()).toHaveLength(2);
    for (const list of seen.slice(from)) expect(list).toContain(`${POD_IP}:8080`);
    expect(addressesOf(watcher.endpoints(STABLE).get())).toContain(`${POD_IP}:8080`);
  }, 40_000);
});
