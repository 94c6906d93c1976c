// `npm start -- --kubernetes`: the demo on a real Kubernetes control plane, with this runner as its
// one node. Outside: build the control plane when needed and start it in its own network namespace,
// then run the rest inside that namespace (a second `mesh demo --kubernetes`), and stop the cluster
// after. Inside: register the node, apply `mesh install` and the demo's files as they are, and wait
// until every pod is Ready and a checkout passes through the front door.
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { BackoffSettings } from '../backoff.ts';
import { waitForEndToEnd } from '../warm-up.ts';
import { acquireLock } from '../state.ts';
import { runInner } from '../inner-runner.ts';
import { buildCluster, startCluster, stopCluster } from './cluster.ts';
import { applyObjects, connectKube, reasonOf, type KubeApi } from './kube-api.ts';
import { NodeAgent } from './node-agent.ts';
import { DEMO_NAMESPACE, ingressDeployment, namespaceAndAccounts, readManifests, withoutGrpcProbes } from './demo-objects.ts';
import { installObjects } from './install.ts';
import { TRUST_ROOTS_CONFIGMAP as TRUST_ROOTS } from '../../../../install/names.ts';
import { codedError } from '../../../../api/errors.ts';

export class KubernetesDemoError extends codedError('KUBE_DEMO') {}

export interface KubeDemoOptions {
  root: string;
  stateDir: string;
  workloadsDir: string;
  manifestsDir: string;
  readyTimeoutMs: number;
  restartBackoff: BackoffSettings;
  /** The cluster's network namespace (default mesh-demo); a test picks its own. */
  netns: string;
  say: (line: string) => void;
}

const INSIDE = 'MESH_DEMO_K8S_NETNS';
const STARTED = 'MESH_DEMO_K8S_T0';

export const clusterRunDir = (stateDir: string) => join(stateDir, 'kubernetes');

export async function runKubernetesDemo(o: KubeDemoOptions): Promise<number> {
  return process.env[INSIDE] ? inside(o) : outside(o);
}

/** In the host's namespace: the build, the cluster, and the demo run inside the cluster's namespace. */
async function outside(o: KubeDemoOptions): Promise<number> {
  const t0 = Date.now();
  const place = { root: o.root, netns: o.netns, runDir: clusterRunDir(o.stateDir) };
  // One demo per state folder, whichever mode: a second start would stop this one's cluster.
  const releaseLock = acquireLock(o.stateDir);
  o.say('Kubernetes mode: the control plane is a real kube-apiserver and kube-controller-manager; this runner is its node');
  try {
    return await outsideLocked(o, t0, place);
  } finally {
    releaseLock();
  }
}

async function outsideLocked(o: KubeDemoOptions, t0: number, place: { root: string; netns: string; runDir: string }): Promise<number> {
  // Ctrl-C while building or starting the cluster: finish that step, then stop cleanly (a cluster
  // half started would otherwise outlive the runner).
  let early: string | undefined;
  const onEarly = (signal: NodeJS.Signals) => (early ??= signal);
  process.on('SIGINT', onEarly);
  process.on('SIGTERM', onEarly);
  let code = 1;
  try {
    await buildCluster(o.root, (line) => o.say(`  build: ${line}`));
    o.say(`control plane binaries ready (${secs(Date.now() - t0)})`);
    if (early) return 0;
    await startCluster(place, (line) => o.say(`  cluster: ${line}`));
    o.say(`cluster up in network namespace ${o.netns} (${secs(Date.now() - t0)})`);
    if (early) return 0;
    const args = process.argv.slice(2);
    code = await runInner('ip', ['netns', 'exec', o.netns, process.execPath, ...process.execArgv, process.argv[1]!, ...args],
      { ...process.env, [INSIDE]: o.netns, [STARTED]: String(t0) }, 'ip is in the Debian package iproute2');
  } finally {
    process.off('SIGINT', onEarly);
    process.off('SIGTERM', onEarly);
    await stopCluster(place);
    o.say(`${early ? `${early}: ` : ''}cluster stopped (network namespace ${o.netns} removed)`);
  }
  return code;
}

/** In the cluster's namespace: the node, the mesh, the demo. */
async function inside(o: KubeDemoOptions): Promise<number> {
  const t0 = Number(process.env[STARTED]) || Date.now();
  const runDir = clusterRunDir(o.stateDir);
  const kubeconfig = join(runDir, 'admin.kubeconfig');
  const api = connectKube(kubeconfig);
  const server = new URL(api.kc.getCurrentCluster()!.server);
  const node = new NodeAgent(api, {
    nodeName: 'mesh-node', dir: join(o.stateDir, 'node'), root: o.root,
    apiServer: { host: server.hostname, port: Number(server.port || 443) }, backoff: o.restartBackoff, say: o.say,
  });
  let stop: (signal: string) => void = () => {};
  const stopped = new Promise<string>((r) => (stop = r));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let signalled: string | undefined;
  void stopped.then((s) => (signalled = s));
  const deadline = Date.now() + o.readyTimeoutMs;
  try {
    await node.start();
    o.say(`node mesh-node registered; it binds and runs every pod (${secs(Date.now() - t0)})`);

    const install = await installObjects();
    await applyObjects(kubeconfig, install.crds, 'mesh install --crds');
    await waitFor(() => crdsEstablished(api, install.crds), deadline, 'the CRDs to be established', () => signalled);
    await applyObjects(kubeconfig, install.controlPlane, 'mesh install');
    o.say(`applied mesh install: ${install.controlPlane.length} objects; waiting for the control plane`);
    await waitFor(() => deploymentsReady(api, install.namespaces), deadline, 'the control plane to be Ready', () => signalled);
    o.say(`control plane Ready (${secs(Date.now() - t0)})`);

    const version = await api.version.getCode();
    const adapted = Number(version.minor.replace(/\D/g, '')) < 24 ? withoutGrpcProbes(readManifests(o.workloadsDir)) : { objects: readManifests(o.workloadsDir), notes: [] };
    for (const n of adapted.notes) o.say(`note: ${n}`);
    const workloads = adapted.objects;
    // The front door's proxy reads the trust anchors from a ConfigMap of its own namespace, as injected proxies did.
    const anchors = await api.core.readNamespacedConfigMap({ name: TRUST_ROOTS, namespace: install.namespaces[0]! });
    await applyObjects(kubeconfig, [...namespaceAndAccounts(workloads), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: TRUST_ROOTS, namespace: DEMO_NAMESPACE }, data: anchors.data }], 'namespace, service accounts, trust anchors');
    await applyObjects(kubeconfig, readManifests(o.manifestsDir), o.manifestsDir);
    // The webhook (mesh install's injector) adds the sidecars as the API server stores each pod.
    await applyObjects(kubeconfig, workloads, o.workloadsDir);
    await applyObjects(kubeconfig, [ingressDeployment()], 'the front door');
    o.say(`applied the demo's files unchanged; waiting for every pod to be Ready`);
    await waitFor(() => deploymentsReady(api, [DEMO_NAMESPACE]), deadline, `every pod of ${DEMO_NAMESPACE} to be Ready`, () => signalled);
    o.say(`every pod Ready (${secs(Date.now() - t0)})`);
    const notYet = await waitForEndToEnd('http://127.0.0.1:8000', deadline, () => signalled !== undefined);
    if (signalled) return 0;
    if (notYet) o.say(`note: every pod is Ready, but requests through the front door still fail: ${notYet}`);
    o.say(banner(o, runDir, Date.now() - t0));
    o.say(`\n${await stopped}: stopping the node's containers...`);
    return 0;
  } catch (err) {
    if (signalled) return 0;
    throw err;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await node.stop();
  }
}

async function waitFor(check: () => Promise<string | undefined>, deadline: number, what: string, signalled: () => string | undefined): Promise<void> {
  let last: string | undefined = 'not checked yet';
  while (Date.now() < deadline) {
    if (signalled()) throw new KubernetesDemoError(`${signalled()} while waiting for ${what}`);
    try {
      last = await check();
    } catch (err) {
      last = reasonOf(err);
    }
    if (last === undefined) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new KubernetesDemoError(`timed out waiting for ${what}: ${last}`);
}

/** undefined when every Deployment of the namespaces has all its replicas updated and available. */
async function deploymentsReady(api: KubeApi, namespaces: string[]): Promise<string | undefined> {
  for (const namespace of namespaces) {
    const list = await api.apps.listNamespacedDeployment({ namespace });
    for (const d of list.items) {
      const want = d.spec?.replicas ?? 1;
      const ready = d.status?.readyReplicas ?? 0;
      if (ready < want || (d.status?.updatedReplicas ?? 0) < want) return `deployment ${namespace}/${d.metadata?.name}: ${ready}/${want} ready`;
    }
  }
  return undefined;
}

async function crdsEstablished(api: KubeApi, crds: k8s.KubernetesObject[]): Promise<string | undefined> {
  for (const crd of crds) {
    const got = (await api.objects.read({ apiVersion: crd.apiVersion, kind: crd.kind, metadata: { name: crd.metadata!.name! } })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
    if (!got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return `crd ${crd.metadata!.name} not established yet`;
  }
  return undefined;
}

function banner(o: KubeDemoOptions, runDir: string, tookMs: number): string {
  const inNs = `ip netns exec ${o.netns}`;
  const kc = `NETNS=${o.netns} RUN_DIR=${runDir} kubernetes/cluster/kc`;
  return [
    '',
    `The mesh is up on Kubernetes (ready ${secs(tookMs)} after start).`,
    '',
    'Every fact flows through the API server: the pods, their status, the EndpointSlices, the policies.',
    `  ${kc} get pods -n ${DEMO_NAMESPACE} -o wide`,
    `  ${kc} get endpointslices -n ${DEMO_NAMESPACE}`,
    `  ${kc} delete pod -n ${DEMO_NAMESPACE} -l app=payments     # the node restarts it; its endpoints follow`,
    '',
    `Try it (the front door listens inside the namespace ${o.netns}):`,
    `  ${inNs} curl -s -X POST http://127.0.0.1:8000/checkout -H 'content-type: application/json' -d '{"item":"book","quantity":2}'`,
    `  ${inNs} curl -s http://127.0.0.1:8000/orders`,
    '',
    `Containers' output: ${join(o.stateDir, 'node', 'logs')}/<namespace>_<pod>_<container>.log`,
    'Stop it: Ctrl-C (the pods, then the cluster)',
    '',
  ].join('\n');
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
