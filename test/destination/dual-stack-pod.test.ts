// A dual-stack Pod (status.podIPs: the pod IP, then its address of the other family) is found by
// either address, and reached at its pod IP. Read through the destination's store and index, in
// development mode (the same code the destination serves from).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EndpointSet } from '../../api/destination-types.ts';
import { DevResolver } from '../../proxy/discovery/dev-resolver.ts';

const pod = (podIPs: string) => `
apiVersion: v1
kind: Pod
metadata: { name: orders-0, namespace: production, labels: { app: orders } }
spec: { serviceAccountName: orders, containers: [ { name: mesh-proxy, ports: [ { name: mesh-inbound, containerPort: 4143 } ] } ] }
status: { podIP: 10.237.0.3, podIPs: ${podIPs} }
`;

let dir: string;
let resolver: DevResolver | undefined;
const open = () => (resolver = new DevResolver(dir, { podIp: '10.237.0.9', namespace: 'production', logger: pino({ level: 'silent' }), debounceMs: 20 }));
const endpoints = (set: EndpointSet | undefined) => (set?.kind === 'endpoints' ? set.endpoints.map((e) => [e.address, e.identity]) : set?.kind);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dual-stack-pod-'));
});
afterEach(() => {
  resolver?.close();
  resolver = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('a dual-stack Pod', () => {
  it('is found by its IPv6 address as by its pod IP, and reached at its pod IP with its identity', () => {
    writeFileSync(join(dir, 'pod.yaml'), pod('[ { ip: 10.237.0.3 }, { ip: "fd00:237::3" } ]'));
    const r = open();
    const expected = [['10.237.0.3:8080', 'spiffe://cluster.local/ns/production/sa/orders']];
    expect(endpoints(r.endpoints('[fd00:237::3]:8080').get())).toEqual(expected);
    expect(endpoints(r.endpoints('10.237.0.3:8080').get())).toEqual(expected);
    expect(r.endpoints('[fd00:237::4]:8080').get()).toEqual({ kind: 'unknown' });
  });

  it('refuses a second address of the pod IP\'s own family, or one that is no address, naming the field', () => {
    writeFileSync(join(dir, 'pod.yaml'), pod('[ { ip: 10.237.0.3 }, { ip: 10.237.0.4 } ]'));
    expect(open).toThrow(/status\.podIPs\[1\]\.ip.*must be an IP address of the family podIP is not, got "10\.237\.0\.4"/s);
    writeFileSync(join(dir, 'pod.yaml'), pod('[ { ip: 10.237.0.3 }, { ip: orders } ]'));
    expect(open).toThrow(/status\.podIPs\[1\]\.ip.*got "orders"/s);
  });
});
