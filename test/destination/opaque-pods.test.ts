// A port is opaque to callers when a registered pod the Service selects announced it so; a
// Service with an empty selector selects no pod, so no pod's announcement makes its port opaque.
import { describe, expect, it } from 'vitest';
import { PodRegistry } from '../../destination/index/pod-registry.ts';
import { profileFor } from '../../destination/index/profile-view.ts';
import { loadFolder } from './resource-folder.ts';

const service = (selector: string) => `apiVersion: v1
kind: Service
metadata: {name: orders, namespace: production}
spec:
  selector: ${selector}
  ports: [{port: 8080, targetPort: 9000}]
`;

function opaqueFor(selector: string): boolean | undefined {
  const { store, problems } = loadFolder({ 'orders.yaml': service(selector) });
  expect(problems()).toEqual([]);
  const pods = new PodRegistry();
  pods.register({
    name: 'orders-0', namespace: 'production', ip: '10.244.0.7', labels: { app: 'orders' },
    ports: [{ name: 'raw', port: 9000, protocol: 'opaque' }],
    inboundPort: 4143, identity: 'spiffe://cluster.local/ns/production/sa/orders', serviceAccount: 'orders', ready: true,
  });
  return profileFor({ kind: 'service', name: 'orders', namespace: 'production', port: 8080 }, store.resources, 'production', 'cluster.local', pods).opaqueProtocol;
}

describe('opaque ports announced by pods', () => {
  it('make the port of a Service that selects the pod opaque', () => {
    expect(opaqueFor('{app: orders}')).toBe(true);
    expect(opaqueFor('{app: payments}')).toBeUndefined();
  });

  it('do not reach a Service whose selector is empty: it selects no pod', () => {
    expect(opaqueFor('{}')).toBeUndefined();
  });
});
