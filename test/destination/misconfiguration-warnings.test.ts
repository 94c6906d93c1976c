// No silent misconfiguration: each resource that would load and quietly do nothing (or less than
// it says) is warned about with its file, resource and field, in the store's problems (which the
// destination logs and `mesh check` shows) and, for what depends on registered pods, in the
// running destination's log.
import { describe, expect, it } from 'vitest';
import { resourcesCategory } from '../../cli/check/control-plane.ts';
import { podWarnings as warnAbout } from '../../destination/index/pod-warnings.ts';
import type { RegisteredPod } from '../../destination/index/pod-registry.ts';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import { quietLogger } from './harness.ts';
import { loadFolder, writeFolder } from './resource-folder.ts';


const services = `apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: production
  annotations: {config.linkerd.io/opaque-ports: "5432,6000-6010"}
spec:
  selector: {app: db}
  ports: [{name: pg, port: 5432}, {name: other, port: 6001}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: production
  annotations: {config.linkerd.io/opaque-ports: "80-70"}
spec:
  selector: {app: web}
  ports: [{port: 8080}]
`;

const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: production}
spec:
  parentRefs: [{name: web, kind: Service, group: core, port: 8080}, {name: gone, kind: Service, group: core}, {name: gw, kind: Gateway}]
  rules:
  - backendRefs: [{name: web, port: 8080, weight: 90}, {name: web-next, port: 8080, weight: 10}]
`;

const policy = `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: db-pg, namespace: production, labels: {tier: data}}
spec:
  podSelector: {matchLabels: {app: db}}
  port: 5432
  proxyProtocol: TLS
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: db-other, namespace: production}
spec:
  podSelector: {matchLabels: {app: db}}
  port: 6001
  proxyProtocol: HTTP/1
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: to-nothing, namespace: production}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: db-gone}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: nobody}]
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: by-name, namespace: production}
spec:
  server: {name: db-missing}
  client: {unauthenticated: true}
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: by-selector, namespace: production}
spec:
  server: {selector: {matchLabels: {tier: cache}}}
  client: {unauthenticated: true}
`;

describe('warnings the folder alone can tell', () => {
  it('names the file, resource and field of each, with what happens instead', () => {
    expect(loadFolder({ 'services.yaml': services, 'routes.yaml': routes, 'policy.yaml': policy }).problems()).toEqual([
      'warning: services.yaml: Service production/web: metadata.annotations["config.linkerd.io/opaque-ports"]: "80-70" is not a list of ports and ranges such as 25,587,4000-4100; ignored',
      'warning: routes.yaml: HTTPRoute production/split: spec.parentRefs[1]: Service production/gone does not exist; the route applies to nothing until it does',
      'warning: routes.yaml: HTTPRoute production/split: spec.parentRefs[2]: kind Gateway is not served here (only Service and Server parents); the route applies to nothing through it',
      "warning: routes.yaml: HTTPRoute production/split: spec.rules[0].backendRefs[1]: Service production/web-next does not exist; its share of the rule's requests (weight 10) is answered 500",
      'warning: policy.yaml: AuthorizationPolicy production/to-nothing: spec.targetRef: Server production/db-gone does not exist; the policy targets nothing and authorizes no one',
      'warning: policy.yaml: AuthorizationPolicy production/to-nothing: spec.requiredAuthenticationRefs[0]: MeshTLSAuthentication production/nobody does not exist; the policy authorizes no one until it does (as Linkerd)',
      'warning: policy.yaml: ServerAuthorization production/by-name: spec.server.name: Server production/db-missing does not exist; the authorization applies to nothing',
      'warning: policy.yaml: ServerAuthorization production/by-selector: spec.server.selector: selects no Server in namespace production; the authorization applies to nothing',
      "warning: policy.yaml: Server production/db-other: spec.proxyProtocol: port 6001 is HTTP/1 here but opaque in Service production/db's config.linkerd.io/opaque-ports (services.yaml); the Server's proxyProtocol is what the pod's proxy uses",
    ]);
  });

  it('says nothing about a folder where every reference holds (the demo\'s manifests but the lesson\'s own warning)', () => {
    const demo = new URL('../../examples/orders-checkout/manifests', import.meta.url).pathname;
    const store = new ResourceStore({ dir: demo, logger: quietLogger() });
    store.load();
    expect(store.problems().map((p) => p.message)).toEqual([expect.stringMatching(/lesson\.yaml: ServiceProfile production\/orders\.production\.svc\.cluster\.local: spec\.routes\[0\]\.retryBudget: /)]);
  });

  it('mesh check shows them under "the policy has no warnings"', async () => {
    const dir = writeFolder({ 'routes.yaml': routes.replace('{name: gone, kind: Service, group: core}, {name: gw, kind: Gateway}', '') });
    const check = resourcesCategory(dir).checks.find((c) => c.description === 'the policy has no warnings')!;
    const verdict = await check.run();
    expect(verdict).toMatchObject({ outcome: 'warning' });
    expect((verdict as { error: string }).error).toBe(
      `${dir}/routes.yaml: HTTPRoute production/split: spec.parentRefs[0]: Service production/web does not exist; the route applies to nothing until it does\n` +
        `${dir}/routes.yaml: HTTPRoute production/split: spec.rules[0].backendRefs[0]: Service production/web does not exist; its share of the rule's requests (weight 90) is answered 500\n` +
        `${dir}/routes.yaml: HTTPRoute production/split: spec.rules[0].backendRefs[1]: Service production/web-next does not exist; its share of the rule's requests (weight 10) is answered 500`,
    );
  });
});

describe('warnings that depend on registered pods', () => {
  const pod = (labels: Record<string, string>, ports: RegisteredPod['ports']): RegisteredPod => ({
    name: 'db-0', namespace: 'production', labels, ip: '127.0.0.9', ports, inboundPort: 4143, identity: 'spiffe://x', serviceAccount: 'db', ready: true,
  });
  const servers = `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: db-pg, namespace: production}
spec: {podSelector: {matchLabels: {app: db}}, port: 5432}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: db-admin, namespace: production}
spec: {podSelector: {matchLabels: {app: db}}, port: admin}
`;

  it('a Server selecting no registered pod, or no pod with its named port', () => {
    const { dir, store } = loadFolder({ 'servers.yaml': servers });
    const podWarnings = (pods: RegisteredPod[]) => warnAbout(store.resources, pods).map((w) => w.replaceAll(`${dir}/`, ''));
    expect(podWarnings([pod({ app: 'web' }, [])])).toEqual([
      'servers.yaml: Server production/db-admin: spec.podSelector: selects no registered pod in namespace production; the Server protects nothing',
      'servers.yaml: Server production/db-pg: spec.podSelector: selects no registered pod in namespace production; the Server protects nothing',
    ]);
    expect(podWarnings([pod({ app: 'db' }, [{ name: 'pg', port: 5432 }])])).toEqual([
      'servers.yaml: Server production/db-admin: spec.port: no pod it selects has a port named admin; the Server protects nothing',
    ]);
    expect(podWarnings([pod({ app: 'db' }, [{ name: 'admin', port: 9000 }])])).toEqual([]);
  });
});
