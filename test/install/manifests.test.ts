// The shape of `mesh install`'s manifests, without a cluster: the CRDs cover every kind and
// version the destination reads and keep every field of the lesson's YAML; the settings are read
// hostile-ly; the control plane's objects say what --ha, --identity-external-issuer and --set asked.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CertificateAuthority } from '../../identity/ca.ts';
import { HTTP_ROUTE_VERSIONS } from '../../destination/store/kinds/http-route.ts';
import { SUPPORTED_KINDS } from '../../destination/store/kinds/index.ts';
import { InstallError } from '../../install/errors.ts';
import { controlPlaneObjects, crdObjects } from '../../install/render.ts';
import { applySet, defaultValues, highAvailability, type InstallValues } from '../../install/values.ts';
import { REPO, runMesh } from '../injector/run-mesh.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const crds = crdObjects() as Obj[];
const crdFor = (group: string, kind: string) => crds.find((c) => c.spec.group === group && c.spec.names.kind === kind);

/** Fields of `value` the API server would prune under `schema` (structural pruning), as paths. */
function pruned(value: unknown, schema: Obj | undefined, path: string): string[] {
  if (!schema || schema['x-kubernetes-preserve-unknown-fields'] || schema['x-kubernetes-int-or-string']) return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => pruned(item, schema.items, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const sub = schema.properties?.[key] ?? schema.additionalProperties;
    return sub ? pruned(v, sub, `${path}.${key}`) : [`${path}.${key}`];
  });
}

/** Every node of a structural schema has a type (or is int-or-string), as apiextensions/v1 demands. */
function untyped(schema: Obj, path: string): string[] {
  const here = schema.type || schema['x-kubernetes-int-or-string'] ? [] : [path];
  const props = Object.entries(schema.properties ?? {}).flatMap(([k, s]) => untyped(s as Obj, `${path}.${k}`));
  const items = schema.items ? untyped(schema.items, `${path}[]`) : [];
  return [...here, ...props, ...items];
}

describe('mesh install --crds', () => {
  it('has a CRD for every kind the destination reads, serving every version it reads', () => {
    const groups: Record<string, string[]> = { ServiceProfile: ['linkerd.io'], GRPCRoute: ['gateway.networking.k8s.io'] };
    for (const kind of SUPPORTED_KINDS.filter((k) => k !== 'Service')) {
      for (const group of groups[kind] ?? ['policy.linkerd.io']) expect(crdFor(group, kind), `${kind}.${group}`).toBeDefined();
    }
    for (const apiVersion of HTTP_ROUTE_VERSIONS) {
      const [group, version] = apiVersion.split('/');
      const crd = crdFor(group!, 'HTTPRoute');
      expect(crd?.spec.versions.map((v: Obj) => v.name), apiVersion).toContain(version);
    }
    expect(crdFor('gateway.networking.k8s.io', 'GRPCRoute')).toBeDefined();
  });

  it('has structural schemas: one storage version each, every node typed', () => {
    for (const crd of crds) {
      expect(crd.spec.versions.filter((v: Obj) => v.storage)).toHaveLength(1);
      for (const v of crd.spec.versions) expect(untyped(v.schema.openAPIV3Schema, crd.metadata.name)).toEqual([]);
    }
  });

  it('keeps every field of the demo\'s manifests (the lesson\'s YAML): nothing is pruned', () => {
    const dir = join(REPO, 'examples/orders-checkout/manifests');
    let checked = 0;
    for (const file of ['lesson.yaml', 'payments-profile.yaml']) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
        const obj = doc.toJS() as Obj | null;
        if (!obj?.apiVersion || obj.kind === 'Service') continue;
        const [group, version] = String(obj.apiVersion).split('/');
        const crd = crdFor(group!, obj.kind);
        expect(crd, `${file}: ${obj.apiVersion} ${obj.kind}`).toBeDefined();
        const served = crd!.spec.versions.find((v: Obj) => v.name === version);
        expect(served, `${file}: ${obj.apiVersion}`).toBeDefined();
        expect(pruned(obj.spec, served.schema.openAPIV3Schema.properties.spec, `${file}: ${obj.kind}/${obj.metadata.name}: spec`)).toEqual([]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  });

  it('prints only CRDs, and refuses settings beside --crds', async () => {
    const { code, stdout } = await runMesh(['install', '--crds']);
    expect(code).toBe(0);
    const kinds = parseAllDocuments(stdout).map((d) => (d.toJS() as Obj).kind);
    expect(new Set(kinds)).toEqual(new Set(['CustomResourceDefinition']));
    expect(kinds).toHaveLength(crds.length);
    const refused = await runMesh(['install', '--crds', '--ha']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--crds prints the CRDs alone');
  });
});

async function pair() {
  const ca = await CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  return ca.material;
}

function values(sets: string[]): InstallValues {
  const v = defaultValues();
  for (const s of sets) applySet(v, s);
  return v;
}

const byKind = (objects: Obj[], kind: string) => objects.filter((o) => o.kind === kind);

describe('--set', () => {
  it('refuses an unknown key, naming it and the known ones', () => {
    expect(() => values(['controllerReplica=2'])).toThrow(/--set controllerReplica: unknown key; the keys are controllerReplicas,/);
    expect(() => values(['=2'])).toThrow(InstallError);
    expect(() => values(['controllerReplicas'])).toThrow(/expected key=value/);
  });

  it('refuses values of the wrong shape, naming the key', () => {
    expect(() => values(['controllerReplicas=0'])).toThrow(/controllerReplicas: expected an integer from 1 to 100, got "0"/);
    expect(() => values(['controllerReplicas=2.5'])).toThrow(/controllerReplicas/);
    expect(() => values(['webhookFailurePolicy=Sometimes'])).toThrow(/webhookFailurePolicy: expected one of Ignore, Fail/);
    expect(() => values(['identityTrustAnchorsPEM=ca.crt'])).toThrow(/identityTrustAnchorsPEM: .*pass its contents: --set identityTrustAnchorsPEM="\$\(cat ca.crt\)"/);
    expect(() => values(['identityTrustAnchorsPEM=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\ntrailing junk'])).toThrow(/identityTrustAnchorsPEM: expected PEM/);
    expect(() => values(['identity.issuer.tls.keyPEM=-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----'])).toThrow(/keyPEM: expected PEM PRIVATE KEY blocks only, found CERTIFICATE/);
    expect(() => values(['proxyInjector.url=http://127.0.0.1:8443/inject'])).toThrow(/proxyInjector.url: expected an https:\/\/ URL/);
    expect(() => values(['proxy.capture=ebpf'])).toThrow(/proxy.capture: expected one of iptables, http-proxy, got "ebpf"/);
  });

  it('refuses an issuer that the anchors did not sign, a key that is not the issuer\'s, or half an issuer', async () => {
    const [a, b] = await Promise.all([pair(), pair()]);
    const sets = (anchor: string, crt: string, key: string) => [`identityTrustAnchorsPEM=${anchor}`, `identity.issuer.tls.crtPEM=${crt}`, `identity.issuer.tls.keyPEM=${key}`];
    await expect(controlPlaneObjects(values(sets(a.trustAnchorsPem, b.issuerChainPem, b.issuerKeyPem)))).rejects.toThrow(/identity.issuer.tls.crtPEM: .* is not signed by any trust anchor in identityTrustAnchorsPEM/);
    await expect(controlPlaneObjects(values(sets(a.trustAnchorsPem, a.issuerChainPem, b.issuerKeyPem)))).rejects.toThrow(/identity.issuer.tls.keyPEM: the key does not match the issuer certificate/);
    await expect(controlPlaneObjects(values([`identity.issuer.tls.crtPEM=${a.issuerChainPem}`]))).rejects.toThrow(/identity.issuer.tls.keyPEM: required/);
    await expect(controlPlaneObjects(values([`identityTrustAnchorsPEM=${a.trustAnchorsPem}`]))).rejects.toThrow(/identity.issuer.tls.crtPEM and keyPEM: required/);
  });

  it('takes the lesson\'s four settings: replicas, and the given anchor and issuer end up in the ConfigMap and Secret', async () => {
    const m = await pair();
    const v = values(['controllerReplicas=2', `identityTrustAnchorsPEM=${m.trustAnchorsPem}`, `identity.issuer.tls.crtPEM=${m.issuerChainPem}`, `identity.issuer.tls.keyPEM=${m.issuerKeyPem}`]);
    const objects = (await controlPlaneObjects(v)) as Obj[];
    for (const d of byKind(objects, 'Deployment').filter((d) => d.metadata.name !== 'mesh-viz')) expect(d.spec.replicas, d.metadata.name).toBe(2);
    const roots = byKind(objects, 'ConfigMap').find((c) => c.metadata.name === 'mesh-identity-trust-roots' && c.metadata.namespace === 'mesh-system')!;
    expect(roots.data['ca-bundle.crt'].trim()).toBe(m.trustAnchorsPem.trim());
    const issuer = byKind(objects, 'Secret').find((s) => s.metadata.name === 'mesh-identity-issuer')!;
    expect(issuer.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(issuer.data['tls.key'], 'base64').toString().trim()).toBe(m.issuerKeyPem.trim());
  });
});

describe('mesh install', () => {
  let defaults: Obj[];
  beforeAll(async () => {
    defaults = (await controlPlaneObjects(defaultValues())) as Obj[];
  });

  it('writes every part: namespaces, accounts, least-privilege RBAC, Deployments and Services, the webhook', () => {
    const objects = defaults;
    const names = (kind: string) => byKind(objects, kind).map((o) => o.metadata.name);
    expect(names('Namespace')).toEqual(['mesh-system', 'mesh-viz']);
    expect(names('Deployment')).toEqual(['mesh-identity', 'mesh-destination', 'mesh-injector', 'mesh-viz']);
    expect(names('Service')).toEqual(['identity', 'destination', 'injector', 'viz']);
    expect(names('ServiceAccount')).toEqual(['identity', 'destination', 'injector', 'tap']);
    // Namespaces and CRD-free objects come before what lives in them; the webhook comes last.
    expect(objects[0]!.kind).toBe('Namespace');
    expect(objects.at(-1)!.kind).toBe('MutatingWebhookConfiguration');
    // Least privilege: no wildcard, no write to anything but Events and TokenReviews; Secrets only by name.
    const rules = [...byKind(objects, 'ClusterRole'), ...byKind(objects, 'Role')].flatMap((r) => r.rules as Obj[]);
    for (const r of rules) {
      expect([...r.verbs, ...r.resources, ...r.apiGroups]).not.toContain('*');
      const writes = r.verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v));
      if (writes.length > 0) expect(['events', 'tokenreviews']).toContain(r.resources[0]);
      if (r.resources.includes('secrets')) expect(r.resourceNames).toEqual(['mesh-identity-issuer']);
    }
    // The injector captures with proxy-init unless told otherwise.
    const injector = byKind(objects, 'Deployment').find((d) => d.metadata.name === 'mesh-injector')!.spec.template.spec.containers[0];
    expect(injector.command.slice(injector.command.indexOf('--capture'), injector.command.indexOf('--capture') + 2)).toEqual(['--capture', 'iptables']);
    // Its own pod's addresses (both families in a dual-stack cluster) tell it the pods' families.
    expect(injector.command.slice(injector.command.indexOf('--pod-ips'), injector.command.indexOf('--pod-ips') + 2)).toEqual(['--pod-ips', '$(MESH_POD_IPS)']);
    expect(injector.env).toContainEqual({ name: 'MESH_POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } });
    // One image runs every part, `mesh` on its PATH.
    for (const d of byKind(objects, 'Deployment')) {
      const c = d.spec.template.spec.containers[0];
      expect(c.image).toBe(`ghcr.io/mesh/mesh:${defaultValues().image.version}`);
      expect(c.command[0]).toBe('mesh');
      expect(d.spec.template.spec.affinity).toBeUndefined();
    }
  });

  it('the webhook: failurePolicy Ignore, pods on CREATE, and a caBundle that verifies the injector\'s serving certificate', () => {
    const objects = defaults;
    const hook = byKind(objects, 'MutatingWebhookConfiguration')[0].webhooks[0];
    expect(hook.failurePolicy).toBe('Ignore');
    expect(hook.sideEffects).toBe('None');
    expect(hook.admissionReviewVersions).toEqual(['v1', 'v1beta1']);
    expect(hook.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    expect(hook.clientConfig.service).toEqual({ name: 'injector', namespace: 'mesh-system', path: '/inject', port: 443 });
    const ca = new X509Certificate(Buffer.from(hook.clientConfig.caBundle, 'base64'));
    const tls = byKind(objects, 'Secret').find((s) => s.metadata.name === 'mesh-injector-tls')!;
    const leaf = new X509Certificate(Buffer.from(tls.data['tls.crt'], 'base64'));
    expect(leaf.checkHost('injector.mesh-system.svc')).toBe('injector.mesh-system.svc');
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
  });

  it('a webhook URL (a node outside the cluster network) replaces the Service, and its host is in the certificate', async () => {
    const objects = (await controlPlaneObjects(values(['proxyInjector.url=https://127.0.0.1:9443/inject']))) as Obj[];
    const hook = byKind(objects, 'MutatingWebhookConfiguration')[0].webhooks[0];
    expect(hook.clientConfig.url).toBe('https://127.0.0.1:9443/inject');
    expect(hook.clientConfig.service).toBeUndefined();
    const tls = byKind(objects, 'Secret').find((s) => s.metadata.name === 'mesh-injector-tls')!;
    expect(new X509Certificate(Buffer.from(tls.data['tls.crt'], 'base64')).checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('--ha: three replicas, never two on one node; a --set still wins', async () => {
    const { code, stdout } = await runMesh(['install', '--ha', '--set', 'controllerReplicas=2']);
    expect(code).toBe(0);
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
    const identity = byKind(objects, 'Deployment').find((d) => d.metadata.name === 'mesh-identity')!;
    expect(identity.spec.replicas).toBe(2);
    expect(identity.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
    const ha = defaultValues();
    highAvailability(ha);
    expect([ha.controllerReplicas, ha.enablePodAntiAffinity]).toEqual([3, true]);
  });

  it('--identity-external-issuer: no issuer Secret (cert-manager writes it), identity may read it by name', async () => {
    const m = await pair();
    const { code, stdout } = await runMesh(['install', '--identity-external-issuer', '--set', `identityTrustAnchorsPEM=${m.trustAnchorsPem}`]);
    expect(code).toBe(0);
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
    expect(byKind(objects, 'Secret').map((s) => s.metadata.name)).toEqual(['mesh-injector-tls']);
    const config = byKind(objects, 'ConfigMap').find((c) => c.metadata.name === 'mesh-config')!;
    expect(JSON.parse(config.data['values.json']).issuerScheme).toBe('kubernetes.io/tls');
    const missing = await runMesh(['install', '--identity-external-issuer']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('identityTrustAnchorsPEM: required with an external issuer');
    expect(missing.stdout).toBe('');
  });

  it('prints nothing when a setting is refused (half a mesh must not reach kubectl)', async () => {
    const { code, stdout, stderr } = await runMesh(['install', '--set', 'controllerReplicas=2', '--set', 'identity.issuer.tls.crtPEM=issuer.crt']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^mesh install: --set identity.issuer.tls.crtPEM: expected PEM/);
  });
});

describe('mesh viz install', () => {
  it('the lesson\'s `linkerd viz install | kubectl apply -f -`: says mesh install has the viz, and prints only its namespace, as mesh install makes it', async () => {
    const { code, stdout, stderr } = await runMesh(['viz', 'install']);
    expect(code).toBe(0);
    const printed = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
    const installs = (await controlPlaneObjects(defaultValues())) as Obj[];
    expect(printed).toEqual([installs.find((o) => o.kind === 'Namespace' && o.metadata.name === 'mesh-viz')]);
    expect(stderr).toMatch(/^mesh viz install: nothing to add: mesh install already installs the viz \(Deployment mesh-viz in namespace mesh-viz\)/);
    expect(installs.some((o) => o.kind === 'Deployment' && o.metadata.name === 'mesh-viz' && o.metadata.namespace === 'mesh-viz')).toBe(true);
  });

  it('the lesson\'s --set prometheusUrl: mesh install renders the viz reading that Prometheus, and mesh viz install prints that same Deployment for kubectl', async () => {
    const url = 'http://prometheus.monitoring:9090';
    const vizOf = (objects: Obj[]) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mesh-viz')!;
    const withUrl = defaultValues();
    applySet(withUrl, `prometheusUrl=${url}`);
    const installed = (await controlPlaneObjects(withUrl)) as Obj[];
    const command: string[] = vizOf(installed).spec.template.spec.containers[0].command;
    expect(command.slice(0, 3)).toEqual(['mesh', 'viz', 'serve']);
    expect(command.slice(command.indexOf('--prometheus'))).toEqual(['--prometheus', url]);
    // Without it the viz scrapes the proxies itself, and nothing else in the install depends on it.
    const plain = (await controlPlaneObjects(defaultValues())) as Obj[];
    expect(vizOf(plain).spec.template.spec.containers[0].command).not.toContain('--prometheus');
    const others = (objects: Obj[]) => objects.filter((o) => o.kind === 'Deployment' && o.metadata.name !== 'mesh-viz');
    expect(others(installed)).toEqual(others(plain));

    const { code, stdout, stderr } = await runMesh(['viz', 'install', '--set', `prometheusUrl=${url}`]);
    expect(code).toBe(0);
    const printed = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
    expect(printed).toEqual([installed.find((o) => o.kind === 'Namespace' && o.metadata.name === 'mesh-viz'), vizOf(installed)]);
    expect(stderr).toContain(`mesh viz install: printed the viz's Deployment reading ${url} instead of scraping the proxies`);
    expect(stderr).toContain('mesh viz prometheus-config');

    // The settings it is rendered from are mesh install's: the same values, the same Deployment.
    const domain = await runMesh(['viz', 'install', '--set', `prometheusUrl=${url}`, '--set', 'clusterDomain=example.org']);
    const custom = defaultValues();
    applySet(custom, `prometheusUrl=${url}`);
    applySet(custom, 'clusterDomain=example.org');
    expect(parseAllDocuments(domain.stdout).map((d) => d.toJS() as Obj)[1]).toEqual(vizOf((await controlPlaneObjects(custom)) as Obj[]));
  });

  it('refuses a prometheusUrl that is not a plain http(s) URL, and a key that is not the viz\'s, printing nothing', async () => {
    for (const bad of ['ftp://prometheus:9090', 'http://user:secret@prometheus:9090', 'http://prometheus:9090/?q=<script>', '<b>prometheus</b>', '',
      'http://prometheus:9090/<b>x</b>', 'http://prom\tetheus:9090', 'http://prometheus:9090\n', ' http://prometheus:9090', 'http://prometheus:9090/a\\b', 'http://prometheus:9090/"x"']) {
      const r = await runMesh(['viz', 'install', '--set', `prometheusUrl=${bad}`]);
      expect([r.code, r.stdout], bad).toEqual([1, '']);
      expect(r.stderr, bad).toMatch(/^mesh viz install: --set prometheusUrl: expected an http:\/\/ or https:\/\/ URL/);
      expect(() => applySet(defaultValues(), `prometheusUrl=${bad}`), bad).toThrow(InstallError);
    }
    const other = await runMesh(['viz', 'install', '--set', 'dashboard.replicas=2']);
    expect([other.code, other.stdout]).toEqual([2, '']);
    expect(other.stderr).toContain('mesh viz install: --set dashboard.replicas=2: not a setting of the viz\'s Deployment (its keys: prometheusUrl, clusterDomain');
  });

  it('after mesh install --ha, mesh viz install --ha prints the viz as that install made it, anti-affinity and strategy included', async () => {
    const url = 'https://prometheus.monitoring:9090';
    const ha = defaultValues();
    highAvailability(ha);
    applySet(ha, `prometheusUrl=${url}`);
    const installed = ((await controlPlaneObjects(ha)) as Obj[]).find((o) => o.kind === 'Deployment' && o.metadata.name === 'mesh-viz')!;
    expect(installed.spec.template.spec.affinity).toBeDefined();
    const r = await runMesh(['viz', 'install', '--ha', '--set', `prometheusUrl=${url}`]);
    expect(r.code).toBe(0);
    expect(parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj)[1]).toEqual(installed);
  });
});
