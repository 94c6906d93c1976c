// The destination in Kubernetes mode against a real kube-apiserver and controller-manager: each
// kind from `kubectl apply` to a DestinationClient's stream (the proxy's own client), edits timed,
// a watch cut by killing the apiserver, EndpointSlices merged, bad objects, RBAC and a dead address.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDestination, type DestinationServer } from '../../destination/server.ts';
import { DestinationClient } from '../../proxy/discovery/destination-client.ts';
import { request } from 'node:http';
import { addressBlock } from '../helpers/address-block.ts';
import { startPodApp, startProxy } from '../helpers/control-plane.ts';
import { KubeCluster, REPO_DIR } from '../helpers/kube-cluster.ts';
import { testPki, type TestPki } from '../helpers/pki.ts';
import { addresses, quietLogger, SERVER_IDENTITY, until } from '../destination/harness.ts';

const NS = 'production';
let cluster: KubeCluster;
let hostKubeconfig: string;
let pki: TestPki;
let destination: DestinationServer;
const clients: DestinationClient[] = [];
const timings: Record<string, number> = {};

async function start(kubeconfig: string): Promise<DestinationServer> {
  const material = (await pki.credentialsFor(SERVER_IDENTITY)).current();
  return startDestination({
    resourcesDir: '',
    kubernetes: { kubeconfig },
    addr: '127.0.0.1:0',
    tls: { key: material.key as string, cert: material.cert as string, ca: pki.anchorPem },
    logger: quietLogger(),
    registrationGraceMs: 0,
  });
}

async function client(): Promise<DestinationClient> {
  const c = new DestinationClient({
    addr: destination.address,
    credentials: await pki.credentialsFor(`spiffe://cluster.local/ns/${NS}/sa/checkout`),
    serverIdentity: SERVER_IDENTITY,
    namespace: NS,
    backoff: { minMs: 50, maxMs: 400 },
    logger: quietLogger(),
  });
  clients.push(c);
  return c;
}

/** A pod as the node would have it: bound, Running, Ready (or not), with an IP; meshed unless told. */
async function runPod(name: string, ip: string, labels: Record<string, string>, options: { ready?: boolean; sa?: string; meshed?: boolean } = {}): Promise<void> {
  const annotations = options.meshed === false ? {} : { 'linkerd.io/proxy-version': 'test' };
  await cluster.apply(JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels, annotations },
    spec: {
      nodeName: 'node-1',
      serviceAccountName: options.sa ?? 'default',
      containers: [{ name: 'app', image: 'mesh', ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9090 }] }],
    },
  }));
  await setReady(name, ip, options.ready ?? true);
}

async function setReady(name: string, ip: string, ready: boolean): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = ready ? 'True' : 'False';
  await cluster.kubectlOk(['-n', NS, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status, lastTransitionTime: now }, { type: 'ContainersReady', status, lastTransitionTime: now }] },
  })]);
}

beforeAll(async () => {
  cluster = await KubeCluster.start();
  // The CRDs exactly as `mesh install --crds` writes them.
  const crds = spawnSync(process.execPath, ['bin/mesh.js', 'install', '--crds'], { cwd: REPO_DIR, encoding: 'utf8' });
  if (crds.status !== 0) throw new Error(`mesh install --crds failed: ${crds.stderr}`);
  await cluster.apply(crds.stdout);
  await cluster.kubectlOk(['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all']);
  await cluster.kubectlOk(['create', 'namespace', NS]);
  await cluster.waitForServiceAccount(NS);
  await cluster.addNode('node-1');
  await cluster.apply(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: orders, namespace: ${NS}}
`);
  // The lesson's resources, as the YAML-mode tests load them from a folder.
  await cluster.kubectlOk(['apply', '-f', `${REPO_DIR}/test/destination/fixtures/lesson/`]);
  hostKubeconfig = await cluster.hostKubeconfig();
  pki = await testPki();
  destination = await start(hostKubeconfig);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await destination?.close();
  await cluster?.stop();
  console.log(`kubernetes destination timings (ms): ${JSON.stringify(timings)}`);
});

describe('destination --kubernetes', () => {
  it('watches every kind at the version the server serves (EndpointSlices: v1beta1 on 1.20)', () => {
    const watched = Object.fromEntries(destination.kubernetes!.watched().map((w) => [`${w.kind} ${w.apiVersion.split('/')[0]}`, w.apiVersion]));
    expect(watched['EndpointSlice discovery.k8s.io']).toBe('discovery.k8s.io/v1beta1');
    expect(watched['Service v1']).toBe('v1');
    expect(watched['ServiceProfile linkerd.io']).toBe('linkerd.io/v1alpha2');
    for (const kind of ['Server', 'ServerAuthorization', 'AuthorizationPolicy', 'MeshTLSAuthentication', 'NetworkAuthentication', 'HTTPRoute']) {
      expect(watched[`${kind} policy.linkerd.io`], kind).toMatch(/^policy\.linkerd\.io\/v1/);
    }
    expect(watched['HTTPRoute gateway.networking.k8s.io']).toBe('gateway.networking.k8s.io/v1');
  });

  it('Pods and the controller-manager\'s EndpointSlices become endpoints with identity; readiness follows the API', async () => {
    const c = await client();
    const stable = c.endpoints(`orders-stable.${NS}.svc.cluster.local:8080`);
    const t0 = Date.now();
    await runPod('orders-stable-1', '198.51.100.11', { app: 'orders', track: 'stable' }, { sa: 'orders' });
    const set = await until(stable, (s) => addresses(s).includes('198.51.100.11:8080'), 30_000, 'orders-stable-1 as an endpoint');
    timings['pod Ready -> endpoint'] = Date.now() - t0;
    const ep = set.kind === 'endpoints' ? set.endpoints[0]! : undefined;
    expect(ep?.identity).toBe('spiffe://cluster.local/ns/production/sa/orders');
    expect(ep?.inboundPort).toBe(4143);
    // Not Ready: the controller-manager marks it so in the slice, and it leaves the endpoints.
    await setReady('orders-stable-1', '198.51.100.11', false);
    await until(stable, (s) => !addresses(s).includes('198.51.100.11:8080'), 30_000, 'orders-stable-1 gone when not Ready');
    await setReady('orders-stable-1', '198.51.100.11', true);
    await until(stable, (s) => addresses(s).includes('198.51.100.11:8080'), 30_000, 'orders-stable-1 back');
  });

  it('a pod without the proxy is an endpoint without identity (plaintext)', async () => {
    const c = await client();
    await runPod('orders-canary-1', '198.51.100.12', { app: 'orders', track: 'canary' }, { meshed: false });
    const set = await until(c.endpoints(`orders-canary.${NS}.svc.cluster.local:8080`), (s) => addresses(s).length === 1, 30_000, 'canary endpoint');
    expect(set.kind === 'endpoints' && set.endpoints[0]!.identity).toBeFalsy();
  });

  it('a Service\'s EndpointSlices split across several objects merge into one set', async () => {
    const slice = (name: string, ips: string[]) => ({
      apiVersion: 'discovery.k8s.io/v1beta1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': 'external' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    });
    await cluster.apply(`
apiVersion: v1
kind: Service
metadata: {name: external, namespace: ${NS}}
spec: {ports: [{name: http, port: 80}]}
`);
    await cluster.apply(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [slice('external-a', ['203.0.113.1', '203.0.113.2']), slice('external-b', ['203.0.113.3'])] }));
    const c = await client();
    const set = c.endpoints(`external.${NS}.svc.cluster.local:80`);
    await until(set, (s) => addresses(s).length === 3, 30_000, 'three endpoints from two slices');
    expect(addresses(set.get())).toEqual(['203.0.113.1:80', '203.0.113.2:80', '203.0.113.3:80']);
    await cluster.kubectlOk(['-n', NS, 'delete', 'endpointslice', 'external-b']);
    await until(set, (s) => addresses(s).length === 2, 30_000, 'two endpoints after one slice is deleted');
  });

  it('ServiceProfile: applied, then an edit reaches the stream (timed)', async () => {
    const c = await client();
    const profile = c.profile(`orders.${NS}.svc.cluster.local:8080`);
    await until(profile, (p) => p.routes.some((r) => r.name === 'GET /orders/{id}' && r.timeoutMs === 200), 30_000, 'the lesson profile');
    const t0 = Date.now();
    await cluster.kubectlOk(['-n', NS, 'patch', 'serviceprofile', `orders.${NS}.svc.cluster.local`, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/routes/1/timeout', value: '300ms' }])]);
    await until(profile, (p) => p.routes.some((r) => r.name === 'GET /orders/{id}' && r.timeoutMs === 300), 30_000, 'the edited timeout');
    timings['ServiceProfile edit -> stream'] = Date.now() - t0;
  });

  it('HTTPRoute: a weight change from kubectl apply reaches the stream (timed)', async () => {
    const c = await client();
    const profile = c.profile(`orders.${NS}.svc.cluster.local:8080`);
    const weights = (p: { httpRoutes: Array<{ rules: Array<{ backends: Array<{ authority: string; weight: number }> }> }> }) =>
      Object.fromEntries(p.httpRoutes.flatMap((r) => r.rules.flatMap((rule) => rule.backends.map((b) => [b.authority.split('.')[0], b.weight]))));
    await until(profile, (p) => weights(p)['orders-stable'] === 90, 30_000, 'the 90/10 split');
    const t0 = Date.now();
    await cluster.kubectlOk(['-n', NS, 'patch', 'httproutes.policy.linkerd.io', 'orders-canary', '--type=json', '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/rules/0/backendRefs/0/weight', value: 50 }, { op: 'replace', path: '/spec/rules/0/backendRefs/1/weight', value: 50 }])]);
    await until(profile, (p) => weights(p)['orders-stable'] === 50 && weights(p)['orders-canary'] === 50, 30_000, 'the 50/50 split');
    timings['HTTPRoute weight -> stream'] = Date.now() - t0;
  });

  it('a proxy routes by an HTTPRoute weight change applied with kubectl (timed to the first request that follows it)', async () => {
    const net = await addressBlock();
    const apps = [await startPodApp(`${net}.2`, 8080, 'web-stable-1'), await startPodApp(`${net}.3`, 8080, 'web-canary-1')];
    await runPod('web-stable-1', `${net}.2`, { app: 'web', track: 'stable' }, { meshed: false });
    await runPod('web-canary-1', `${net}.3`, { app: 'web', track: 'canary' }, { meshed: false });
    const route = (stable: number, canary: number) => `
apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: web-split, namespace: ${NS}}
spec:
  parentRefs: [{name: web, kind: Service, group: core, port: 8080}]
  rules: [{backendRefs: [{name: web-stable, port: 8080, weight: ${stable}}, {name: web-canary, port: 8080, weight: ${canary}}]}]
`;
    await cluster.apply(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${NS}}
spec: {selector: {app: web}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-stable, namespace: ${NS}}
spec: {selector: {app: web, track: stable}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary, namespace: ${NS}}
spec: {selector: {app: web, track: canary}, ports: [{port: 8080}]}
${`---${route(100, 0)}`}`);
    const credentials = await pki.credentialsFor(`spiffe://cluster.local/ns/${NS}/sa/checkout`);
    const proxy = await startProxy(['--pod-ip', `${net}.1`, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0', '--tap-port', '0',
      '--destination-addr', destination.address, '--pod-namespace', NS, '--pod-name', 'client-1', '--service-account', 'checkout'], credentials);
    const get = () => new Promise<string>((resolve, reject) => {
      const req = request({ host: `${net}.1`, port: proxy.outboundPort, path: `http://web.${NS}.svc.cluster.local:8080/`, headers: { host: `web.${NS}.svc.cluster.local:8080` } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
    const pods = async (n: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) seen.add((JSON.parse(await get()) as { pod?: string }).pod ?? 'error');
      return seen;
    };
    try {
      let stableOnly = false;
      for (let i = 0; i < 100 && !stableOnly; i++) {
        stableOnly = [...(await pods(5).catch(() => new Set(['error'])))].join() === 'web-stable-1';
        if (!stableOnly) await new Promise((r) => setTimeout(r, 200));
      }
      expect(stableOnly).toBe(true);
      const t0 = Date.now();
      await cluster.apply(route(0, 100));
      const applied = Date.now() - t0;
      let canaryOnly = false;
      // A request that fails while the routes change is a miss, as in the loop above, not the end of the test.
      while (!canaryOnly && Date.now() - t0 < 30_000) canaryOnly = [...(await pods(5).catch(() => new Set(['error'])))].join() === 'web-canary-1';
      timings['kubectl apply HTTPRoute -> proxy routes by it'] = Date.now() - t0;
      timings['(of which kubectl apply itself)'] = applied;
      expect(canaryOnly).toBe(true);
    } finally {
      await proxy.stop();
      for (const app of apps) await app.close();
    }
  });

  it('Server and ServerAuthorization: the pod\'s inbound policy; an AuthorizationPolicy with MeshTLSAuthentication too', async () => {
    const c = new DestinationClient({
      addr: destination.address,
      credentials: await pki.credentialsFor(`spiffe://cluster.local/ns/${NS}/sa/orders`),
      serverIdentity: SERVER_IDENTITY,
      pod: { name: 'orders-stable-1', namespace: NS, labels: { app: 'orders', track: 'stable' }, ip: '198.51.100.11', ports: [{ name: 'grpc', port: 9090 }] },
      backoff: { minMs: 50, maxMs: 400 },
      logger: quietLogger(),
    });
    clients.push(c);
    const grpcPort = c.inboundPolicy(9090);
    const policy = await until(grpcPort, (p) => p.server?.name === `${NS}/orders-grpc`, 30_000, 'orders-grpc policy');
    expect(JSON.stringify(policy.authorizations)).toContain('spiffe://cluster.local/ns/production/sa/checkout');
    await cluster.apply(`
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: payments-callers, namespace: ${NS}}
spec: {identities: ["spiffe://cluster.local/ns/production/sa/payments"]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: office, namespace: ${NS}}
spec: {networks: [{cidr: 192.0.2.0/24}]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: orders-grpc-payments, namespace: ${NS}}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: orders-grpc}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: payments-callers}]
`);
    await until(grpcPort, (p) => JSON.stringify(p.authorizations).includes('sa/payments'), 30_000, 'the AuthorizationPolicy');
  });

  it('a watch cut (apiserver killed by PID, restarted) resumes from its resourceVersion and loses nothing', async () => {
    const c = await client();
    const profile = c.profile(`orders.${NS}.svc.cluster.local:8080`);
    const stable = c.endpoints(`orders-stable.${NS}.svc.cluster.local:8080`);
    await until(profile, (p) => p.routes.length === 2, 30_000, 'profile');
    const before = destination.kubernetes!.watched();
    cluster.stopApiserver();
    await new Promise((r) => setTimeout(r, 3_000));
    await cluster.startApiserver();
    // Changes made the moment the server is back, before the watches have reconnected.
    await cluster.kubectlOk(['-n', NS, 'patch', 'serviceprofile', `orders.${NS}.svc.cluster.local`, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/routes/1/timeout', value: '700ms' }])]);
    await runPod('orders-stable-2', '198.51.100.13', { app: 'orders', track: 'stable' }, { sa: 'orders' });
    await until(profile, (p) => p.routes.some((r) => r.timeoutMs === 700), 60_000, 'the edit made across the cut');
    await until(stable, (s) => addresses(s).includes('198.51.100.13:8080'), 60_000, 'the pod made across the cut');
    const after = destination.kubernetes!.watched();
    const resumes = after.reduce((n, w) => n + w.resumes, 0) - before.reduce((n, w) => n + w.resumes, 0);
    expect(resumes).toBeGreaterThan(0);
  });

  it('a watch resumed from a version etcd compacted away gets 410 Gone, lists again, and keeps no object deleted in the gap', async () => {
    const c = await client();
    const external = c.endpoints(`external.${NS}.svc.cluster.local:80`);
    await until(external, (s) => addresses(s).length > 0, 30_000, 'external endpoints');
    const lists = () => destination.kubernetes!.watched().find((w) => w.kind === 'Service')!.lists;
    const listsBefore = lists();
    cluster.stopApiserver();
    const etcdctl = (...args: string[]) => {
      const r = spawnSync('ip', ['netns', 'exec', cluster.netns, 'etcdctl', '--endpoints=http://127.0.0.1:2379', ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
      if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    // While no apiserver runs: the Service is deleted behind its back, and history compacted past our version.
    etcdctl('del', `/registry/services/specs/${NS}/external`);
    const revision = (JSON.parse(etcdctl('endpoint', 'status', '-w', 'json')) as Array<{ Status: { header: { revision: number } } }>)[0]!.Status.header.revision;
    etcdctl('compact', String(revision));
    await cluster.startApiserver();
    await until(external, (s) => addresses(s).length === 0, 60_000, 'the Service deleted in the gap to be gone');
    expect(destination.store.resources.get('Service', NS, 'external')).toBeUndefined();
    expect(lists()).toBeGreaterThan(listsBefore);
  });

  it('an object the schema refuses never reaches the store; one the destination refuses or warns about gets an Event', async () => {
    const refused = await cluster.kubectl(['apply', '-f', '-'], `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: no-port, namespace: ${NS}}
spec: {podSelector: {matchLabels: {app: orders}}}
`);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/port/);
    await cluster.apply(`
apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: bad-weight, namespace: ${NS}}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 8080}]
  rules: [{backendRefs: [{name: orders-stable, port: 8080, weight: -5}]}]
`).catch((err: Error) => {
      // A schema that refuses a negative weight is as good: the API server kept it out.
      expect(err.message).toMatch(/weight/);
    });
    const events = async () => JSON.parse(await cluster.kubectlOk(['-n', NS, 'get', 'events', '-o', 'json'])) as { items: Array<{ reason: string; message: string; involvedObject: { kind: string; name: string } }> };
    let found: Array<{ reason: string; message: string; involvedObject: { kind: string; name: string } }> = [];
    for (let i = 0; i < 100 && !found.some((e) => e.involvedObject.kind === 'ServiceProfile'); i++) {
      found = (await events()).items;
      await new Promise((r) => setTimeout(r, 200));
    }
    // The lesson's retryBudget inside a route: applied with a warning, recorded on the ServiceProfile.
    const warning = found.find((e) => e.involvedObject.kind === 'ServiceProfile');
    expect(warning?.message).toMatch(/retryBudget belongs at spec.retryBudget/);
    expect(destination.store.problems().some((p) => p.message.includes('retryBudget'))).toBe(true);
    // Past the schema, refused by the destination's own reader: a regex that does not compile.
    await cluster.apply(`
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: payments.${NS}.svc.cluster.local, namespace: ${NS}}
spec: {routes: [{name: broken, condition: {method: GET, pathRegex: "(["}}]}
`);
    let rejected: (typeof found)[number] | undefined;
    for (let i = 0; i < 100 && !rejected; i++) {
      rejected = (await events()).items.find((e) => e.reason === 'Rejected' && e.involvedObject.name === `payments.${NS}.svc.cluster.local`);
      if (!rejected) await new Promise((r) => setTimeout(r, 200));
    }
    expect(rejected?.message).toMatch(/spec\.routes\[0\]\.condition\.pathRegex/);
    expect(destination.store.problems().some((p) => p.severity === 'error' && p.message.includes(`payments.${NS}.svc.cluster.local`))).toBe(true);
  });

  it('RBAC refusal names the missing verb and resource', async () => {
    await cluster.apply(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: limited, namespace: ${NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: limited}
rules: [{apiGroups: [""], resources: [services, pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: limited}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: limited}
subjects: [{kind: ServiceAccount, name: limited, namespace: ${NS}}]
`);
    const server = /server: "([^"]+)"/.exec((await import('node:fs')).readFileSync(hostKubeconfig, 'utf8'))![1]!;
    const kubeconfig = await cluster.serviceAccountKubeconfig(NS, 'limited', server);
    const err = await start(kubeconfig).then(
      (d) => (void d.close(), undefined),
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('KUBE_FORBIDDEN');
    expect(err?.message).toMatch(/refused to list endpointslices \(API group "discovery\.k8s\.io"\).*grant the verb "list" on resource "endpointslices"/);
  });

  it('a kubeconfig pointing nowhere says so', async () => {
    const nowhere = cluster.kubeconfigAt('https://127.0.0.1:1', 'nowhere');
    const err = await start(nowhere).then(
      (d) => (void d.close(), undefined),
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('KUBE_UNREACHABLE');
    expect(err?.message).toMatch(/cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:1 \(from .*nowhere\.kubeconfig\): ECONNREFUSED/);
    const missing = await start('/nonexistent/kubeconfig').catch((e: Error & { code?: string }) => e);
    expect((missing as { code?: string }).code).toBe('KUBE_CONFIG');
  });
});
