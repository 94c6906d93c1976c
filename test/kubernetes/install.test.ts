// `mesh install` against the real API server (v1.20.2): the CRDs and the control plane apply as
// the lesson applies them, the schemas refuse invalid objects, and the injector, called by the API
// server as the webhook's backend, injects pods of an annotated namespace (read back from the API),
// leaves others alone, follows the lesson's annotate + rollout restart, and never blocks a pod
// when it is down.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeCluster } from '../helpers/kube-cluster.ts';
import { runMesh } from '../injector/run-mesh.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WEBHOOK_PORT = 8443; // inside the cluster's own namespace: nothing else binds there
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: KubeCluster;
let dir: string;
let pki: { ca: string; issuerCrt: string; issuerKey: string };
let installed: Obj[];
let injector: ChildProcess | undefined;
let injectorLog = '';

/** `mesh install ARGS`, run as a learner runs it; fails the test with its stderr if it fails. */
async function meshInstall(args: string[]): Promise<string> {
  const r = await runMesh(['install', ...args]);
  if (r.code !== 0) throw new Error(`mesh install ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `mesh ARGS` on this machine with KUBECONFIG set, as a learner with a cluster runs `mesh check`. */
function meshWithKubeconfig(args: string[], kubeconfig: string): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/mesh.js'), ...args], { env: { ...process.env, KUBECONFIG: kubeconfig, MESH_STATE_DIR: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out, err })));
}

/** The `√`/`‼`/`×` line of a check, by its description. */
const line = (out: string, description: string) => out.split('\n').find((l) => l.slice(2).startsWith(description)) ?? `(no line "${description}" in:\n${out})`;

let hostKubeconfig: string;

async function getJson(args: string[]): Promise<Obj> {
  return JSON.parse(await cluster.kubectlOk([...args, '-o', 'json'])) as Obj;
}

/** Starts the injector as the webhook's backend, inside the namespace, as its own ServiceAccount (so RBAC applies). */
async function startInjector(): Promise<void> {
  const secret = installed.find((o) => o.kind === 'Secret' && o.metadata.name === 'mesh-injector-tls')!;
  const roots = installed.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mesh-identity-trust-roots')!;
  writeFileSync(join(dir, 'tls.crt'), Buffer.from(secret.data['tls.crt'], 'base64'));
  writeFileSync(join(dir, 'tls.key'), Buffer.from(secret.data['tls.key'], 'base64'));
  writeFileSync(join(dir, 'anchors.crt'), roots.data['ca-bundle.crt']);
  const kubeconfig = await cluster.serviceAccountKubeconfig('mesh-system', 'injector');
  injectorLog = '';
  injector = cluster.mesh([
    'injector', 'serve', '--kubernetes', '--kubeconfig', kubeconfig,
    '--addr', `127.0.0.1:${WEBHOOK_PORT}`, '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key'),
    '--trust-anchors', join(dir, 'anchors.crt'),
  ], { ...process.env, MESH_LOG_LEVEL: 'info' });
  injector.stdout!.on('data', (d) => (injectorLog += d));
  injector.stderr!.on('data', (d) => (injectorLog += d));
  const until = Date.now() + 60_000;
  while (!injectorLog.includes('injector listening')) {
    if (injector.exitCode !== null || Date.now() > until) throw new Error(`the injector did not start:\n${injectorLog}`);
    await sleep(100);
  }
}

function stopInjector(): Promise<void> {
  const child = injector;
  injector = undefined;
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.on('close', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A bare pod on the node; `labels`/`annotations` as given. */
function pod(ns: string, name: string, annotations: Record<string, string> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: 'web' }, annotations },
    spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'example/web:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
  });
}

const containerNames = (p: Obj, key = 'containers') => ((p.spec[key] ?? []) as Obj[]).map((c) => c.name);

beforeAll(async () => {
  cluster = await KubeCluster.start();
  dir = mkdtempSync(join(tmpdir(), 'mesh-k8s-install-'));
  // The lesson's ca.crt, issuer.crt and issuer.key (step makes them there; here the mesh's own init).
  const init = await runMesh(['identity', 'init', '--dir', join(dir, 'ca')]);
  if (init.code !== 0) throw new Error(`mesh identity init: ${init.stderr}`);
  const read = (f: string) => readFileSync(join(dir, 'ca', f), 'utf8');
  pki = { ca: read('ca.crt'), issuerCrt: read('issuer.crt'), issuerKey: read('issuer.key') };
  await cluster.addNode('node-1');
  hostKubeconfig = await cluster.hostKubeconfig();
});

afterAll(async () => {
  await stopInjector();
  await cluster?.stop();
});

describe('mesh install --crds | kubectl apply -f -', () => {
  it('applies; every CRD is established with a structural schema', async () => {
    const out = await cluster.kubectlOk(['apply', '-f', '-'], await meshInstall(['--crds']));
    expect(out).toContain('serviceprofiles.linkerd.io created');
    await cluster.kubectlOk(['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=mesh']);
    const crds = (await getJson(['get', 'crd', '-l', 'app.kubernetes.io/part-of=mesh'])).items as Obj[];
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      'authorizationpolicies.policy.linkerd.io', 'grpcroutes.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io',
      'httproutes.policy.linkerd.io', 'meshtlsauthentications.policy.linkerd.io', 'networkauthentications.policy.linkerd.io',
      'serverauthorizations.policy.linkerd.io', 'servers.policy.linkerd.io', 'serviceprofiles.linkerd.io',
    ]);
    for (const crd of crds) expect((crd.status.conditions as Obj[]).filter((c) => c.type === 'NonStructuralSchema'), crd.metadata.name).toEqual([]);
  });

  it('stores the demo\'s manifests unchanged, the lesson\'s route-level retryBudget included', async () => {
    await cluster.kubectlOk(['create', 'namespace', 'production']);
    const manifests = join(import.meta.dirname, '../../examples/orders-checkout/manifests');
    await cluster.kubectlOk(['apply', '-f', '-'], ['lesson.yaml', 'payments-profile.yaml', 'services.yaml'].map((f) => readFileSync(join(manifests, f), 'utf8')).join('\n---\n'));
    const sp = await getJson(['-n', 'production', 'get', 'serviceprofile', 'orders.production.svc.cluster.local']);
    expect(sp.spec.routes[0].retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' });
    const route = await getJson(['-n', 'production', 'get', 'httproutes.policy.linkerd.io', 'orders-canary']);
    expect(route.spec.rules[0].backendRefs.map((b: Obj) => b.weight)).toEqual([90, 10]);
  });

  it('the schemas refuse invalid objects, naming the field (1.20 names list fields without their index)', async () => {
    // --validate=false: the API server's own schema check, not kubectl's reading of the published OpenAPI.
    const refused = async (yaml: string, field: RegExp) => {
      const r = await cluster.kubectl(['apply', '--validate=false', '-f', '-'], yaml);
      expect(r.code, r.out).not.toBe(0);
      expect(r.err).toMatch(field);
    };
    await refused(`apiVersion: policy.linkerd.io/v1beta2
kind: HTTPRoute
metadata: {name: bad-weight, namespace: production}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 8080}]
  rules: [{backendRefs: [{name: orders-stable, port: 8080, weight: -5}]}]
`, /spec\.rules(\[0\])?\.backendRefs(\[0\])?\.weight: Invalid value: -5/);
    await refused(`apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: bad.production.svc.cluster.local, namespace: production}
spec: {routes: [{name: no-condition, timeout: 500ms}]}
`, /spec\.routes(\[0\])?\.condition: Required value/);
    await refused(`apiVersion: policy.linkerd.io/v1beta1
kind: Server
metadata: {name: bad-protocol, namespace: production}
spec: {podSelector: {matchLabels: {app: orders}}, port: 9090, proxyProtocol: HTTP/3}
`, /spec\.proxyProtocol: Unsupported value: "HTTP\/3"/);
    await refused(`apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: bad-timeout.production.svc.cluster.local, namespace: production}
spec: {routes: [{name: r, condition: {method: GET}, timeout: soon}]}
`, /spec\.routes(\[0\])?\.timeout: Invalid value: "soon"/);
  });
});

describe('mesh check against the cluster', () => {
  it('mesh check --pre (before the control plane): the API is reachable and recent, the namespace free, the rights there', async () => {
    const r = await meshWithKubeconfig(['check', '--pre'], hostKubeconfig);
    expect(r.code, r.out + r.err).toBe(0);
    expect(line(r.out, 'can query the Kubernetes API')).toBe('\u221A can query the Kubernetes API (v1.20.2)');
    expect(line(r.out, 'control plane namespace does not already exist')).toMatch(/^\u221A/);
    expect(line(r.out, 'can create the resources mesh install makes')).toMatch(/^\u221A .*\(12 kinds\)/);
  });

  it('a kubeconfig pointing nowhere: the client check fails naming the server and why, and nothing else runs', async () => {
    const r = await meshWithKubeconfig(['check'], cluster.kubeconfigAt('https://127.0.0.1:1', 'nowhere'));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/\u00D7 can query the Kubernetes API\n {4}get \/version at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(r.out).not.toContain('mesh-existence');
  });
});

describe('mesh install --set ... | kubectl apply -f - (the lesson\'s four settings)', () => {
  it('applies the whole control plane', async () => {
    const yaml = await meshInstall([
      '--set', 'controllerReplicas=2',
      '--set', `identityTrustAnchorsPEM=${pki.ca}`,
      '--set', `identity.issuer.tls.crtPEM=${pki.issuerCrt}`,
      '--set', `identity.issuer.tls.keyPEM=${pki.issuerKey}`,
      // The API server runs in a namespace with no cluster network: it calls the injector at a URL.
      '--set', `proxyInjector.url=https://127.0.0.1:${WEBHOOK_PORT}/inject`,
    ]);
    installed = parseAllDocuments(yaml).map((d) => d.toJS() as Obj);
    const out = await cluster.kubectlOk(['apply', '-f', '-'], yaml);
    expect(out).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/mesh-proxy-injector created');
    const deployments = (await getJson(['-n', 'mesh-system', 'get', 'deployments'])).items as Obj[];
    expect(deployments.map((d) => [d.metadata.name, d.spec.replicas]).sort()).toEqual([['mesh-destination', 2], ['mesh-identity', 2], ['mesh-injector', 2]]);
    const issuer = await getJson(['-n', 'mesh-system', 'get', 'secret', 'mesh-identity-issuer']);
    expect(Buffer.from(issuer.data['tls.crt'], 'base64').toString().trim()).toBe(pki.issuerCrt.trim());
    // Applying it again changes nothing it should not (kubectl apply is how upgrades go).
    const again = await cluster.kubectl(['apply', '-f', '-'], yaml);
    expect(again.code, again.err).toBe(0);
  });

  it('RBAC gives each component what it uses and nothing more (asked of the API server as each ServiceAccount)', async () => {
    const can = async (sa: string, ns: string, args: string[]) => {
      const r = await cluster.kubectl(['auth', 'can-i', ...args, '--as', `system:serviceaccount:${ns}:${sa}`]);
      return r.out.trim();
    };
    const expectations: Array<[string, string, string[], 'yes' | 'no']> = [
      ['identity', 'mesh-system', ['create', 'tokenreviews.authentication.k8s.io'], 'yes'],
      ['identity', 'mesh-system', ['watch', 'secrets/mesh-identity-issuer', '-n', 'mesh-system'], 'yes'],
      ['identity', 'mesh-system', ['get', 'secrets/mesh-injector-tls', '-n', 'mesh-system'], 'no'],
      ['identity', 'mesh-system', ['list', 'pods', '-A'], 'no'],
      ['destination', 'mesh-system', ['watch', 'endpointslices.discovery.k8s.io', '-A'], 'yes'],
      ['destination', 'mesh-system', ['list', 'httproutes.gateway.networking.k8s.io', '-A'], 'yes'],
      ['destination', 'mesh-system', ['watch', 'serviceprofiles.linkerd.io', '-A'], 'yes'],
      ['destination', 'mesh-system', ['create', 'events', '-n', 'production'], 'yes'],
      ['destination', 'mesh-system', ['get', 'secrets', '-n', 'production'], 'no'],
      ['destination', 'mesh-system', ['update', 'services', '-n', 'production'], 'no'],
      ['injector', 'mesh-system', ['get', 'namespaces'], 'yes'],
      ['injector', 'mesh-system', ['create', 'pods', '-n', 'production'], 'no'],
      ['injector', 'mesh-system', ['get', 'secrets', '-n', 'mesh-system'], 'no'],
      ['tap', 'mesh-viz', ['list', 'pods', '-A'], 'no'],
    ];
    const got = [];
    for (const [sa, ns, args] of expectations) got.push(await can(sa, ns, args));
    expect(got.map((answer, i) => `${expectations[i]![0]} ${expectations[i]![2].join(' ')}: ${answer}`)).toEqual(expectations.map(([sa, , args, want]) => `${sa} ${args.join(' ')}: ${want}`));
  });

  it('mesh check: CRDs, identity and webhook pass; the control plane pods are not ready (no node runs them here), and it says so', async () => {
    const r = await meshWithKubeconfig(['check'], hostKubeconfig);
    expect(line(r.out, "'mesh-system' namespace exists")).toMatch(/^\u221A/);
    expect(line(r.out, "the mesh's CRDs are installed")).toBe("\u221A the mesh's CRDs are installed (9 CRDs)");
    expect(line(r.out, 'certificate config is valid')).toMatch(/^\u221A/);
    expect(line(r.out, 'issuer cert is signed by the trust anchor')).toMatch(/^\u221A/);
    expect(line(r.out, "proxy-injector webhook has a valid caBundle for the injector's certificate")).toMatch(/^\u221A/);
    expect(line(r.out, 'control plane pods are ready')).toMatch(/^\u00D7/);
    expect(r.out).toContain('mesh-system/mesh-identity: 0/2 ready');
    expect(r.code).toBe(1);
  });
});

describe('the injector as the webhook\'s backend', () => {
  beforeAll(async () => {
    await startInjector();
    await cluster.kubectlOk(['create', 'namespace', 'elsewhere']);
    await cluster.waitForServiceAccount('production');
    await cluster.waitForServiceAccount('elsewhere');
  });

  it('kubectl annotate namespace production linkerd.io/inject=enabled: a pod created there through the API is stored injected', async () => {
    await cluster.kubectlOk(['annotate', 'namespace', 'production', 'linkerd.io/inject=enabled']);
    await cluster.kubectlOk(['apply', '-f', '-'], pod('production', 'web-1'));
    const p = await getJson(['-n', 'production', 'get', 'pod', 'web-1']);
    // 1.20 has no native sidecars: the proxy is a container, first, held ready by its postStart hook.
    expect(containerNames(p)).toEqual(['mesh-proxy', 'web']);
    expect(containerNames(p, 'initContainers')).toEqual(['mesh-init']);
    const proxy = p.spec.containers[0];
    const env = (name: string) => (proxy.env as Obj[]).find((e) => e.name === name)!;
    expect(proxy.lifecycle.postStart.exec.command).toEqual(['mesh', 'proxy-await', '--timeout', '2m']);
    expect(proxy.ports.map((x: Obj) => x.containerPort)).toEqual([4140, 4143, 4191, 4190]);
    expect(env('MESH_POD_IP').valueFrom.fieldRef.fieldPath).toBe('status.podIP');
    expect(env('MESH_POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(env('MESH_POD_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(env('MESH_TRUST_ANCHORS_PEM').value.trim()).toBe(pki.ca.trim());
    expect(env('MESH_PROXY_TRANSPARENT').value).toBe('true');
    const token = (p.spec.volumes as Obj[]).find((v) => v.name === 'mesh-identity-token')!;
    expect(token.projected.sources).toContainEqual({ serviceAccountToken: { audience: 'identity.l5d.io', expirationSeconds: 86400, path: 'mesh-identity-token' } });
    expect(p.spec.initContainers[0].securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(p.metadata.annotations['linkerd.io/proxy-version']).toBeDefined();
    expect(injectorLog).toMatch(/"namespace":"production".*"msg":"injected"/);
  });

  it('a pod in a namespace without the annotation is not injected; one annotated itself is', async () => {
    await cluster.kubectlOk(['apply', '-f', '-'], pod('elsewhere', 'plain'));
    expect(containerNames(await getJson(['-n', 'elsewhere', 'get', 'pod', 'plain']))).toEqual(['web']);
    await cluster.kubectlOk(['apply', '-f', '-'], pod('elsewhere', 'opted-in', { 'linkerd.io/inject': 'enabled' }));
    expect(containerNames(await getJson(['-n', 'elsewhere', 'get', 'pod', 'opted-in']))).toEqual(['mesh-proxy', 'web']);
  });

  it('kubectl rollout restart deployment -n production: the new pods carry the proxy and name their Deployment', async () => {
    await cluster.kubectlOk(['create', 'namespace', 'shop']);
    await cluster.waitForServiceAccount('shop');
    await cluster.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec: {nodeName: node-1, containers: [{name: orders, image: example/orders:1}]}
`);
    const pods = async () => ((await getJson(['-n', 'shop', 'get', 'pods', '-l', 'app=orders'])).items as Obj[]);
    const until = async (ok: (ps: Obj[]) => boolean, what: string) => {
      for (let i = 0; i < 300; i++) {
        const ps = await pods();
        if (ok(ps)) return ps;
        await sleep(200);
      }
      throw new Error(`${what}: ${JSON.stringify((await pods()).map((p) => [p.metadata.name, containerNames(p)]))}`);
    };
    const before = await until((ps) => ps.length === 1, 'the Deployment made no pod');
    expect(containerNames(before[0]!)).toEqual(['orders']);
    await cluster.kubectlOk(['annotate', 'namespace', 'shop', 'linkerd.io/inject=enabled']);
    await cluster.kubectlOk(['rollout', 'restart', 'deployment', '-n', 'shop']);
    // No kubelet runs these pods, so the old one never goes Ready-less on its own: the new one appears beside it.
    const after = await until((ps) => ps.some((p) => containerNames(p).includes('mesh-proxy')), 'no injected pod after the restart');
    const injected = after.find((p) => containerNames(p).includes('mesh-proxy'))!;
    expect(injected.metadata.labels['linkerd.io/proxy-deployment']).toBe('orders');
    expect((injected.spec.containers[0].env as Obj[]).find((e) => e.name === 'MESH_POD_DEPLOYMENT')!.value).toBe('orders');
  });

  it('mesh -n production check --proxy: finds the injected pods, on the current anchors and version; not ready while no node runs them', async () => {
    const r = await meshWithKubeconfig(['-n', 'production', 'check', '--proxy'], hostKubeconfig);
    expect(line(r.out, 'data plane namespace exists')).toMatch(/^\u221A/);
    expect(line(r.out, 'data plane proxies are ready')).toMatch(/^\u00D7/);
    expect(r.out).toContain('production/web-1: proxy not ready (phase Pending)');
    const none = await meshWithKubeconfig(['-n', 'elsewhere-empty', 'check', '--proxy'], hostKubeconfig);
    expect(none.out).toMatch(/\u00D7 data plane namespace exists\n {4}get namespace elsewhere-empty at .*: HTTP 404/);
  });

  it('with the injector down, a pod is still created (failurePolicy: Ignore), without the proxy', async () => {
    await stopInjector();
    const started = Date.now();
    const r = await cluster.kubectl(['apply', '-f', '-'], pod('production', 'while-down'));
    expect(r.code, r.err).toBe(0);
    expect(containerNames(await getJson(['-n', 'production', 'get', 'pod', 'while-down']))).toEqual(['web']);
    // A refused connection fails the call at once; nowhere near the webhook's 10 s timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
