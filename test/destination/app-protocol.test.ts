// A Service port's appProtocol reaches the inbound policy of every pod port it targets (by number
// or by container port name); a value the mesh does not know is warned about, with file, resource
// and field, and treated as absent: the port keeps working, its requests pass through unchanged.
import { describe, expect, it } from 'vitest';
import { policyFor } from '../../destination/index/policy-view.ts';
import type { RegisteredPod } from '../../destination/index/pod-registry.ts';
import type { ResourceStore } from '../../destination/store/resource-store.ts';
import { loadFolder } from './resource-folder.ts';

const load = (yaml: string): ResourceStore => loadFolder({ 'svc.yaml': yaml }).store;

const pod: RegisteredPod = {
  name: 'web-0', namespace: 'production', labels: { app: 'web' }, ip: '127.0.0.9',
  ports: [{ name: 'api', port: 9000 }, { port: 8080 }, { port: 7000 }], inboundPort: 4143, identity: 'spiffe://x', serviceAccount: 'web', ready: true,
};
const settings = { defaultPolicy: 'all-unauthenticated' as const, clusterNetworks: [], trustDomain: 'cluster.local' };

const service = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: production}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, appProtocol: http}
  - {name: grpc, port: 9000, targetPort: api, appProtocol: grpc}
  - {name: h2c, port: 7000, appProtocol: kubernetes.io/h2c}
  - {name: odd, port: 6000, appProtocol: spdy/3}
`;

describe('appProtocol', () => {
  it('gives each targeted pod port the HTTP version its app speaks', () => {
    const store = load(service);
    expect(policyFor(pod, 8080, store.resources, settings).appProtocol).toBe('http/1.1');
    expect(policyFor(pod, 9000, store.resources, settings).appProtocol).toBe('h2');
    expect(policyFor(pod, 7000, store.resources, settings).appProtocol).toBe('h2');
    expect(policyFor(pod, 6000, store.resources, settings).appProtocol).toBeUndefined();
    expect(policyFor({ ...pod, labels: { app: 'other' } }, 8080, store.resources, settings).appProtocol).toBeUndefined();
  });

  it('reaches no pod from a Service whose selector is empty: it selects none', () => {
    const store = load(service.replace('selector: {app: web}', 'selector: {}'));
    expect(policyFor(pod, 8080, store.resources, settings).appProtocol).toBeUndefined();
    expect(policyFor(pod, 9000, store.resources, settings).appProtocol).toBeUndefined();
  });

  it('warns about a value the mesh does not know, and treats it as absent', () => {
    const store = load(service);
    expect(store.problems().map((p) => `${p.severity}: ${p.message.slice(p.message.indexOf('svc.yaml'))}`)).toEqual([
      'warning: svc.yaml: Service production/web: spec.ports[3].appProtocol: "spdy/3" is not one the mesh knows (http, kubernetes.io/h2c, grpc); treated as absent: requests reach the app in the protocol they arrived in',
    ]);
    // The Service itself loads: its endpoints are unaffected.
    expect(store.resources.get('Service', 'production', 'web')!.ports.map((p) => p.port)).toEqual([80, 9000, 7000, 6000]);
  });
});
