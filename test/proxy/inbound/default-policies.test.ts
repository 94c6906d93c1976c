// Every default inbound policy a Linkerd user can write, through `mesh inject` (the real CLI) and
// then the proxy it configures: the injector accepts the annotation, the proxy starts with what
// the injector wrote, the destination takes it, and callers are admitted or refused as Linkerd
// does. Callers: plaintext from inside the cluster's networks, plaintext from outside them, and
// a meshed caller over mTLS (another proxy). Then a Server's accessPolicy. Addresses in a /24 of
// the file's own (addressBlock()); the cluster's networks are its lower half, so .200 is outside.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_POLICIES, type DefaultPolicy } from '../../../api/destination-types.ts';
import { controlPlane, eventually, metricValue, proxyArgs, startPodApp, startProxy, stopMesh, type ControlPlane, type PodApp, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';

const run = promisify(execFile);
const REPO = new URL('../../..', import.meta.url).pathname;
// Its own block, not a fixed one: two runs of the suite at once would bind the same addresses.
const NET = await addressBlock();
const CLUSTER = `${NET}.0/25`;
const INSIDE = `${NET}.100`;
const OUTSIDE = `${NET}.200`;

let cp: ControlPlane;
const proxies: RunningProxy[] = [];
const apps: PodApp[] = [];
/** Per policy: the pod's proxy. */
const pods = new Map<DefaultPolicy, RunningProxy>();
let caller: RunningProxy;
let callerPool: Pool;
const injectedEnv = new Map<DefaultPolicy, Record<string, string>>();

const deployment = (policy: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web-${policy}, namespace: production}
spec:
  selector: {matchLabels: {app: web-${policy}}}
  template:
    metadata:
      labels: {app: web-${policy}}
      annotations: {linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: ${policy}}
    spec:
      containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]
`;

/** Plaintext straight to a pod's inbound port, from `from`: the status the caller got. */
async function plaintext(pod: RunningProxy, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: pod.ip, port: pod.inboundPort, path: '/hello', localAddress: from, agent: false, headers: { 'l5d-dst-port': '8080' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Through the caller's proxy: mTLS with identity production/caller. */
async function meshed(policy: DefaultPolicy): Promise<number> {
  const res = await callerPool.request({ path: '/hello', method: 'GET', headers: { host: `web-${policy}.production.svc.cluster.local:8080` } });
  await res.body.text();
  return res.statusCode;
}

beforeAll(async () => {
  // 1. mesh inject, the real CLI, over one Deployment per policy.
  const file = join(process.env['TMPDIR'] ?? '/tmp', `mesh-policies-${process.pid}.yaml`);
  writeFileSync(file, DEFAULT_POLICIES.map(deployment).join('---\n'));
  const { stdout, stderr } = await run(process.execPath, [join(REPO, 'bin/mesh.js'), 'inject', file], { cwd: REPO });
  expect(stderr).not.toMatch(/ignored/);
  for (const doc of parseAllDocuments(stdout)) {
    const obj = doc.toJS() as { metadata: { name: string }; spec: { template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } } };
    const proxy = obj.spec.template.spec.containers.find((c) => c.env?.some((e) => e.name === 'MESH_PROXY_INBOUND_DEFAULT_POLICY'))!;
    const env = Object.fromEntries(proxy.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    injectedEnv.set(obj.metadata.name.slice('web-'.length) as DefaultPolicy, env);
  }

  // 2. The control plane, a Service per pod, and each pod's proxy started from the injected env.
  cp = await controlPlane();
  writeFileSync(
    join(cp.resourcesDir, 'services.yaml'),
    DEFAULT_POLICIES.map((p) => `apiVersion: v1\nkind: Service\nmetadata: {name: web-${p}, namespace: production}\nspec:\n  selector: {app: web-${p}}\n  ports: [{port: 8080}]\n`).join('---\n'),
  );
  await cp.startIdentity(`${NET}.1:0`);
  await cp.startDestination(`${NET}.1:0`);
  let n = 10;
  for (const policy of DEFAULT_POLICIES) {
    const ip = `${NET}.${n++}`;
    apps.push(await startPodApp(ip, 8080, `web-${policy}`));
    const env = injectedEnv.get(policy)!;
    const p = await startProxy(
      [...proxyArgs(cp, { name: `web-${policy}-0`, serviceAccount: 'web', ip, labels: { app: `web-${policy}` }, ports: ['8080'] }), '--cluster-networks', CLUSTER],
      undefined,
      { MESH_PROXY_INBOUND_DEFAULT_POLICY: env['MESH_PROXY_INBOUND_DEFAULT_POLICY'] },
    );
    proxies.push(p);
    pods.set(policy, p);
  }
  caller = await startProxy(proxyArgs(cp, { name: 'caller-0', serviceAccount: 'caller', ip: `${NET}.101`, labels: { app: 'caller' } }));
  proxies.push(caller);
  callerPool = new Pool(`http://${caller.ip}:${caller.outboundPort}`);
  await eventually(async () => (await Promise.all(proxies.map((p) => p.ready()))).every((r) => r.status === 200), 20_000, 'every proxy ready');
  await eventually(async () => (await meshed('all-unauthenticated')) === 200, 15_000, 'the mesh converged');
}, 90_000);

afterAll(() => stopMesh({ clients: [callerPool], cp, proxies, apps }));

describe('default inbound policies, from mesh inject to the proxy', () => {
  it('mesh inject writes each value for the proxy, unchanged', () => {
    expect([...injectedEnv].map(([policy, env]) => [policy, env['MESH_PROXY_INBOUND_DEFAULT_POLICY']])).toEqual(DEFAULT_POLICIES.map((p) => [p, p]));
  });

  // [plaintext from the cluster, plaintext from outside it, meshed over mTLS]
  const expected: Record<DefaultPolicy, [number, number, number]> = {
    'all-unauthenticated': [200, 200, 200],
    'all-authenticated': [403, 403, 200],
    'cluster-unauthenticated': [200, 403, 200],
    'cluster-authenticated': [403, 403, 200],
    deny: [403, 403, 403],
    audit: [200, 200, 200],
  };
  it.each(DEFAULT_POLICIES)('%s admits and refuses as Linkerd does', async (policy) => {
    const pod = pods.get(policy)!;
    const got = [await plaintext(pod, INSIDE), await plaintext(pod, OUTSIDE), await meshed(policy)];
    expect(got).toEqual(expected[policy]);
  });

  it('audit admits, and counts and logs each call under authz "audit", as Linkerd users look for it', async () => {
    const pod = pods.get('audit')!;
    expect(await plaintext(pod, OUTSIDE)).toBe(200);
    const m = await pod.metrics();
    expect(metricValue(m, 'inbound_http_authz_allow_total', { authz: 'audit', port: '8080' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, 'request_total', { direction: 'inbound', authz_name: 'audit' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, 'inbound_http_authz_deny_total')).toBeUndefined();
    const line = pod.logs.find((l) => l['authz.name'] === 'audit' && l['peer'] !== undefined && String(l['peer']).startsWith(`${OUTSIDE}:`));
    expect(line?.['msg']).toBe(
      `audit: port 8080: no Server selects this port and the default policy audit admits unauthenticated client ${OUTSIDE} (no client certificate), which no rule admits`,
    );
  });
});

describe("a Server's accessPolicy (Linkerd 2.15+)", () => {
  const server = (access: string | undefined) => `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web, namespace: production}
spec:
  podSelector: {matchLabels: {app: web-all-unauthenticated}}
  port: 8080
${access ? `  accessPolicy: ${access}\n` : ''}---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web-caller, namespace: production}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: web}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: caller, namespace: production}]
`;

  it('decides the callers no authorization admits; left out, it is deny', async () => {
    const pod = pods.get('all-unauthenticated')!;
    const file = join(cp.resourcesDir, 'server.yaml');
    const states: Array<[string | undefined, [number, number, number]]> = [
      [undefined, [403, 403, 200]],
      ['cluster-unauthenticated', [200, 403, 200]],
      ['audit', [200, 200, 200]],
      ['deny', [403, 403, 200]],
    ];
    for (const [access, want] of states) {
      writeFileSync(file, server(access));
      await eventually(async () => (await plaintext(pod, INSIDE)) === want[0] && (await plaintext(pod, OUTSIDE)) === want[1], 10_000, `accessPolicy ${access} in force`);
      expect([await plaintext(pod, INSIDE), await plaintext(pod, OUTSIDE), await meshed('all-unauthenticated')], String(access)).toEqual(want);
    }
    const denied = pod.logs.filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('accessPolicy cluster-unauthenticated'));
    expect(denied.map((l) => l['msg'])).toContain(
      `denied: port 8080: no authorization of Server production/web admits this caller, and its accessPolicy cluster-unauthenticated admits only cluster networks; refuses unauthenticated client ${OUTSIDE} (no client certificate)`,
    );
  });

  it('refuses an accessPolicy that is not one of the defaults, naming the field', async () => {
    writeFileSync(join(cp.resourcesDir, 'server.yaml'), server('allow-all'));
    await eventually(() => cp.destination!.store.problems().some((p) => p.message.includes('accessPolicy')), 10_000, 'the refusal');
    expect(cp.destination!.store.problems().map((p) => p.message.slice(p.message.indexOf('server.yaml')))).toContain(
      'server.yaml: Server production/web: spec.accessPolicy: must be one of all-unauthenticated, all-authenticated, cluster-unauthenticated, cluster-authenticated, deny, audit, got "allow-all" (the last good version stays in force)',
    );
  });
});
