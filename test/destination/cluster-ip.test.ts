// A Service's clusterIP answers for the Service: what a proxy asks when it routes a redirected
// connection by its original destination (SO_ORIGINAL_DST). Read through the destination's store
// and index, in development mode (the same code the destination serves from).
import { describe, expect, it } from 'vitest';
import type { EndpointSet } from '../../api/destination-types.ts';
import { openDevResolver } from './resource-folder.ts';

const service = (clusterIP: string) => `
apiVersion: v1
kind: Service
metadata: { name: orders, namespace: production }
spec:
  ${clusterIP}
  selector: { app: orders }
  ports: [ { port: 80, targetPort: 8080 } ]
`;
const POD = `
apiVersion: v1
kind: Pod
metadata: { name: orders-0, namespace: production, labels: { app: orders } }
spec: { serviceAccountName: orders, containers: [ { name: mesh-proxy, ports: [ { name: mesh-inbound, containerPort: 4143 } ] } ] }
status: { podIP: 10.237.0.3 }
`;

const open = (svc: string) => openDevResolver({ 'all.yaml': `${svc}---${POD}` });
const addresses = (set: EndpointSet | undefined) => (set?.kind === 'endpoints' ? set.endpoints.map((e) => e.address) : set?.kind);

describe('Service clusterIP', () => {
  it('an ip:port that is a clusterIP resolves as the Service: its endpoints and its profile', () => {
    const r = open(service('clusterIP: 10.96.0.10'));
    expect(addresses(r.endpoints('10.96.0.10:80').get())).toEqual(['10.237.0.3:8080']);
    expect(r.profile('10.96.0.10:80').get()?.fqdn).toBe('orders.production.svc.cluster.local');
    // A pod's own IP is still the pod; an address nobody has is unknown (forwarded as is).
    expect(addresses(r.endpoints('10.237.0.3:8080').get())).toEqual(['10.237.0.3:8080']);
    expect(r.endpoints('10.96.0.11:80').get()).toEqual({ kind: 'unknown' });
  });

  it('headless (None) or absent: the address is unknown', () => {
    expect(open(service('clusterIP: None')).endpoints('10.96.0.10:80').get()).toEqual({ kind: 'unknown' });
  });

  it('a clusterIP that is not an address is refused, naming the field', () => {
    expect(() => open(service('clusterIP: ten.96.0.10'))).toThrow(/clusterIP.*must be an IP address or None, got "ten\.96\.0\.10"/s);
  });
});
