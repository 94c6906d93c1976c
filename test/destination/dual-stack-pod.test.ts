// A dual-stack Pod (status.podIPs: the pod IP, then its address of the other family) is found by
// either address, and reached at its pod IP. Read through the destination's store and index, in
// development mode (the same code the destination serves from).
import { describe, expect, it } from 'vitest';
import type { EndpointSet } from '../../api/destination-types.ts';
import { resolveAuthority } from '../../destination/index/authority.ts';
import { endpointsFor } from '../../destination/index/endpoint-view.ts';
import { PodFeed } from '../../destination/index/pod-feed.ts';
import { PodRegistry } from '../../destination/index/pod-registry.ts';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import { quietLogger } from './harness.ts';
import { openDevResolver, writeFolder } from './resource-folder.ts';

const pod = (podIPs: string) => `
apiVersion: v1
kind: Pod
metadata: { name: orders-0, namespace: production, labels: { app: orders } }
spec: { serviceAccountName: orders, containers: [ { name: mesh-proxy, ports: [ { name: mesh-inbound, containerPort: 4143 } ] } ] }
status: { podIP: 10.237.0.3, podIPs: ${podIPs} }
`;

const open = (podIPs: string) => openDevResolver({ 'pod.yaml': pod(podIPs) });
const endpoints = (set: EndpointSet | undefined) => (set?.kind === 'endpoints' ? set.endpoints.map((e) => [e.address, e.identity]) : set?.kind);

describe('a dual-stack Pod', () => {
  it('is found by its IPv6 address as by its pod IP, and reached at its pod IP with its identity', () => {
    const r = open('[ { ip: 10.237.0.3 }, { ip: "fd00:237::3" } ]');
    const expected = [['10.237.0.3:8080', 'spiffe://cluster.local/ns/production/sa/orders']];
    expect(endpoints(r.endpoints('[fd00:237::3]:8080').get())).toEqual(expected);
    expect(endpoints(r.endpoints('10.237.0.3:8080').get())).toEqual(expected);
    expect(r.endpoints('[fd00:237::4]:8080').get()).toEqual({ kind: 'unknown' });
  });

  it('refuses a second address of the pod IP\'s own family, or one that is no address, naming the field', () => {
    expect(() => open('[ { ip: 10.237.0.3 }, { ip: 10.237.0.4 } ]')).toThrow(/status\.podIPs\[1\]\.ip.*must be an IP address of the family podIP is not, got "10\.237\.0\.4"/s);
    expect(() => open('[ { ip: 10.237.0.3 }, { ip: orders } ]')).toThrow(/status\.podIPs\[1\]\.ip.*got "orders"/s);
  });

  it('in Kubernetes mode, a dual-stack Service\'s two EndpointSlices (one per family) give one endpoint per pod, at its pod IP', () => {
    // What the controller-manager writes for a PreferDualStack Service: a slice per address family,
    // here without targetRefs, so only the addresses tell which pod each endpoint is.
    const slice = (family: string, address: string) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: orders-${family.toLowerCase()}, namespace: production, labels: { kubernetes.io/service-name: orders } }
addressType: ${family}
ports: [ { name: http, port: 8080 } ]
endpoints: [ { addresses: [ "${address}" ], conditions: { ready: true } } ]
`;
    const service = 'apiVersion: v1\nkind: Service\nmetadata: { name: orders, namespace: production }\nspec: { selector: { app: orders }, ports: [ { name: http, port: 80, targetPort: 8080 } ] }\n';
    const dir = writeFolder({ 'pod.yaml': [pod('[ { ip: 10.237.0.3 }, { ip: "fd00:237::3" } ]'), service, slice('IPv4', '10.237.0.3'), slice('IPv6', 'fd00:237::3')].join('---\n') });
    const store = new ResourceStore({ dir, logger: quietLogger(), pods: true, endpointSlices: true });
    store.load();
    expect(store.problems()).toEqual([]);
    expect(store.resources.ofKind('EndpointSlice')).toHaveLength(2);
    const pods = new PodRegistry();
    const feed = new PodFeed(store, pods);
    try {
      const view = endpointsFor(resolveAuthority('orders.production:80', 'production', 'cluster.local'), store.resources, pods);
      expect(view.endpoints.map((e) => [e.address, e.identity])).toEqual([['10.237.0.3:8080', 'spiffe://cluster.local/ns/production/sa/orders']]);
    } finally {
      feed.close();
    }
  });
});
