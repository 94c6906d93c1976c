// The runner as a Kubernetes node (`mesh node`), against a real kube-apiserver and
// kube-controller-manager: it binds pending pods (no scheduler exists), runs their containers as
// processes with volumes at their mountPaths, reports status so the controller-manager's
// EndpointSlices follow readiness, restarts what dies, and finishes `kubectl delete pod`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { KubeCluster } from '../helpers/kube-cluster.ts';

const NS = 'node-test';
let cluster: KubeCluster;
let node: ChildProcess;
let nodeDir: string;
let nodeOut = '';

interface PodJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: {
    phase?: string; podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; ready: boolean; restartCount: number; containerID?: string; state?: Record<string, { reason?: string; message?: string }> }>;
  };
}

const manifests = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: payments, namespace: ${NS}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${NS}}
data: {greeting: hello-from-a-configmap}
---
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: ${NS}}
spec:
  selector: {app: payments}
  ports: [{name: http2, port: 8080, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payments, namespace: ${NS}}
spec:
  replicas: 2
  selector: {matchLabels: {app: payments}}
  template:
    metadata: {labels: {app: payments}}
    spec:
      serviceAccountName: payments
      terminationGracePeriodSeconds: 5
      containers:
      - name: payments
        image: ghcr.io/mesh/mesh
        command: [node, bin/run.js, examples/orders-checkout/apps/payments.ts]
        env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: PAYMENTS_FAILURE_RATE, value: "0"}
        ports: [{name: http2, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: http2}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: volumes, namespace: ${NS}, labels: {role: volumes}}
spec:
  serviceAccountName: payments
  containers:
  - name: show
    image: ghcr.io/mesh/mesh
    command: [sh, -c, 'echo "ip=$(MY_IP) name=$MY_NAME greeting=$GREETING"; cat /var/run/secrets/tokens/token | cut -d. -f1; cat /etc/config/greeting; echo; exec sleep 600']
    env:
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
    volumeMounts:
    - {name: token, mountPath: /var/run/secrets/tokens, readOnly: true}
    - {name: config, mountPath: /etc/config}
  volumes:
  - name: token
    projected: {sources: [{serviceAccountToken: {audience: identity.l5d.io, expirationSeconds: 3600, path: token}}]}
  - name: config
    configMap: {name: settings}
`;

async function pods(selector: string): Promise<PodJson[]> {
  return (JSON.parse(await cluster.kubectlOk(['-n', NS, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: PodJson[] }).items;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}\nnode output:\n${nodeOut.slice(-3000)}`);
}

const isReady = (p: PodJson) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** The ready addresses of the Service's EndpointSlices, as the controller-manager wrote them. */
async function sliceAddresses(): Promise<string[]> {
  const slices = JSON.parse(await cluster.kubectlOk(['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=payments', '-o', 'json'])) as { items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }> };
  return slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses).sort();
}

beforeAll(async () => {
  cluster = await KubeCluster.start();
  nodeDir = mkdtempSync(join(tmpdir(), 'mesh-node-test-'));
  node = cluster.mesh(['node', '--kubeconfig', cluster.kubeconfig, '--name', 'test-node', '--dir', nodeDir, '--pod-net', '127.0.31', '--restart-backoff', '1']);
  node.stdout!.setEncoding('utf8').on('data', (d: string) => (nodeOut += d));
  node.stderr!.setEncoding('utf8').on('data', (d: string) => (nodeOut += d));
  await until('the node to register', async () => (nodeOut.includes('registered') ? true : undefined), 60_000);
  await cluster.apply(manifests.split('---\n').slice(0, 2).join('---\n'));
  await cluster.waitForServiceAccount(NS, 'payments');
  await cluster.apply(manifests);
});

afterAll(async () => {
  if (node && node.exitCode === null) {
    node.kill('SIGTERM');
    await new Promise((r) => node.once('close', r));
  }
  await cluster?.stop();
  if (nodeDir) rmSync(nodeDir, { recursive: true, force: true });
});

describe('the runner as a node', () => {
  it('registers a Node', async () => {
    const n = JSON.parse(await cluster.kubectlOk(['get', 'node', 'test-node', '-o', 'json'])) as { status: { conditions: Array<{ type: string; status: string }> } };
    expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('binds the Deployment\'s pods, runs them and reports them Running and Ready, with pod addresses in the EndpointSlices', async () => {
    const ready = await until('two payments pods Ready', async () => {
      const ps = await pods('app=payments');
      return ps.length === 2 && ps.every(isReady) ? ps : undefined;
    });
    for (const p of ready) {
      expect(p.spec.nodeName).toBe('test-node');
      expect(p.status.phase).toBe('Running');
      expect(p.status.podIP).toMatch(/^127\.0\.31\.\d+$/);
      expect(p.status.conditions?.find((c) => c.type === 'ContainersReady')?.status).toBe('True');
    }
    const ips = ready.map((p) => p.status.podIP!).sort();
    expect(new Set(ips).size).toBe(2);
    expect(await until('the EndpointSlice to list both pods', async () => {
      const a = await sliceAddresses();
      return a.join() === ips.join() ? a : undefined;
    })).toEqual(ips);
    const wide = await cluster.kubectlOk(['-n', NS, 'get', 'pods', '-l', 'app=payments']);
    expect(wide).toMatch(/payments-\S+\s+1\/1\s+Running/);
  });

  it('makes the volumes and the environment a container asks for', async () => {
    const [pod] = await until('the volumes pod Ready', async () => {
      const ps = await pods('role=volumes');
      return ps.length === 1 && isReady(ps[0]!) ? ps : undefined;
    });
    const log = join(nodeDir, 'logs', `${NS}_volumes_show.log`);
    const text = await until('the container to print its volumes', async () => {
      const t = readFileSync(log, 'utf8');
      return t.split('\n').length >= 4 ? t : undefined;
    });
    expect(text).toContain(`ip=${pod!.status.podIP} name=volumes greeting=hello-from-a-configmap`);
    // A JWT's header from the TokenRequest API: base64url of {"alg":"RS256",...}.
    expect(text).toMatch(/^eyJ/m);
    expect(text).toContain('hello-from-a-configmap');
    // Inside the container, the Service's name is its ClusterIP (the node's /etc/hosts), and the
    // node's service proxy carries a connection to it to a ready pod (iptables DNAT, as kube-proxy).
    const clusterIp = (await cluster.kubectlOk(['-n', NS, 'get', 'service', 'payments', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const pid = pod!.status.containerStatuses![0]!.containerID!.replace('process://', '');
    const inside = (argv: string[]) => spawnSync('nsenter', ['-t', pid, '-m', '-n', ...argv], { encoding: 'utf8' });
    await until('the Service in the container\'s /etc/hosts', async () => (inside(['cat', '/etc/hosts']).stdout.includes(`${clusterIp} payments.${NS}.svc.cluster.local`) ? true : undefined));
    const config = await until('a request to the Service by name', async () => {
      const r = inside(['curl', '-s', '--max-time', '3', '--http2-prior-knowledge', `http://payments.${NS}.svc.cluster.local:8080/config`]);
      return r.status === 0 && r.stdout.includes('failureRate') ? r.stdout : undefined;
    });
    expect(JSON.parse(config)).toMatchObject({ failureRate: 0 });
  });

  it('restarts a container that dies, counting the restart', async () => {
    const [victim] = await pods('app=payments');
    const pid = Number(victim!.status.containerStatuses![0]!.containerID!.replace('process://', ''));
    expect(pid).toBeGreaterThan(0);
    process.kill(-pid, 'SIGKILL');
    const back = await until('the container to be restarted and Ready', async () => {
      const p = (await pods('app=payments')).find((x) => x.metadata.uid === victim!.metadata.uid);
      return p && p.status.containerStatuses![0]!.restartCount >= 1 && isReady(p) ? p : undefined;
    });
    expect(back.status.podIP).toBe(victim!.status.podIP);
  });

  it('finishes kubectl delete pod: the ReplicaSet\'s new pod runs and the endpoints follow', async () => {
    const before = await pods('app=payments');
    const victim = before[0]!;
    await cluster.kubectlOk(['-n', NS, 'delete', 'pod', victim.metadata.name, '--wait=true', '--timeout=60s']);
    const after = await until('a replacement pod Ready', async () => {
      const ps = await pods('app=payments');
      return ps.length === 2 && ps.every(isReady) && !ps.some((p) => p.metadata.uid === victim.metadata.uid) ? ps : undefined;
    });
    const ips = after.map((p) => p.status.podIP!).sort();
    await until('the EndpointSlice to follow', async () => ((await sliceAddresses()).join() === ips.join() ? true : undefined));
    expect(nodeOut).not.toMatch(/status of .* not written/);
  });

  it('reports a pod it cannot start, with the reason, and starts it once it can', async () => {
    await cluster.apply(`
apiVersion: v1
kind: Pod
metadata: {name: needs-config, namespace: ${NS}, labels: {role: needs-config}}
spec:
  containers:
  - name: c
    image: ghcr.io/mesh/mesh
    command: [sleep, "600"]
    env: [{name: X, valueFrom: {configMapKeyRef: {name: not-yet, key: x}}}]
`);
    const waiting = await until('the pod to say why it waits', async () => {
      const [p] = await pods('role=needs-config');
      const w = p?.status.containerStatuses?.[0]?.state?.waiting;
      return w ? w : undefined;
    });
    expect(waiting.reason).toBe('CreateContainerConfigError');
    expect(waiting.message).toContain('not-yet');
    await cluster.kubectlOk(['-n', NS, 'create', 'configmap', 'not-yet', '--from-literal=x=1']);
    await until('the pod to start once its ConfigMap exists', async () => {
      const [p] = await pods('role=needs-config');
      return p && isReady(p) ? p : undefined;
    });
  });

  it('stops every container when it stops', async () => {
    const pids = (await pods('app=payments')).map((p) => Number(p.status.containerStatuses![0]!.containerID!.replace('process://', '')));
    node.kill('SIGTERM');
    await new Promise((r) => node.once('close', r));
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
