// The runner as a Kubernetes node: it registers a Node, binds pending pods to it (there is no
// scheduler), runs the containers of the pods bound to it with the runner's own kubelet (the
// Supervisor's restarts, the probes, the Ready condition: ../kubelet.ts), reports each pod's status
// to the API server (so the controller-manager makes the EndpointSlices), and finishes a deleted
// pod: containers stopped gracefully, then the pod object removed (grace period 0), as the kubelet does.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Kubelet, type KubePod } from '../kubelet.ts';
import { Supervisor } from '../supervisor.ts';
import type { BackoffSettings } from '../backoff.ts';
import type { ProcessSpec } from '../topology.ts';
import { readProbes, type ContainerProbes } from '../probe-spec.ts';
import { FieldError, Fields } from '../../../../destination/store/field-reader.ts';
import { type KubeApi, mergePatch, reasonOf, statusOf } from './kube-api.ts';
import { PodIps } from './pod-ips.ts';
import { makeVolumes } from './pod-volumes.ts';
import { containerEnv, expand, type ApiServerAddress } from './pod-env.ts';
import { containerArgv, containerMounts, containerPath, sandboxCommand, SandboxError, writeMeshShim } from './pod-sandbox.ts';
import { podStatus, type PodRecord } from './pod-status.ts';
import { HostsFile } from './hosts-file.ts';
import { ServiceProxy } from './service-proxy.ts';

export interface NodeOptions {
  nodeName: string;
  /** The node's folder: pods' volumes, container logs, the hosts file. */
  dir: string;
  /** The project: the "image" every container runs from. */
  root: string;
  apiServer: ApiServerAddress;
  /** First three parts of the pod addresses (default 127.0.10). */
  podNet?: string;
  /** The API server's --service-cluster-ip-range: ClusterIPs the node forwards (default 198.18.0.0/24). */
  serviceCidr?: string;
  backoff: BackoffSettings;
  say: (line: string) => void;
}

interface Entry {
  pod: k8s.V1Pod;
  rec: PodRecord;
  kube?: KubePod;
  deleting: boolean;
  retry?: NodeJS.Timeout;
}

const key = (p: k8s.V1Pod) => `${p.metadata!.namespace}/${p.metadata!.name}`;

export class NodeAgent {
  readonly supervisor: Supervisor;
  readonly kubelet: Kubelet;
  private readonly ips: PodIps;
  private readonly pods = new Map<string, Entry>();
  private readonly byKube = new Map<KubePod, Entry>();
  private readonly binding = new Set<string>();
  private readonly statusTimers = new Map<Entry, NodeJS.Timeout>();
  private readonly hosts: HostsFile;
  private readonly services: ServiceProxy;
  private podWatch?: k8s.ListWatch<k8s.V1Pod>;
  private stopped = false;

  constructor(private readonly api: KubeApi, private readonly o: NodeOptions) {
    this.ips = new PodIps(o.podNet);
    this.supervisor = new Supervisor(o.root, join(o.dir, 'logs'), () => {}, o.backoff);
    // A node restarts containers from the first moment: nothing here is a start-up to abort.
    this.supervisor.keepRunning();
    this.kubelet = new Kubelet(this.supervisor, o.say);
    this.kubelet.onChange((kube) => {
      const entry = this.byKube.get(kube);
      if (entry) this.reportSoon(entry);
    });
    mkdirSync(o.dir, { recursive: true });
    this.hosts = new HostsFile(join(o.dir, 'hosts'));
    this.services = new ServiceProxy(api, o.serviceCidr ?? '198.18.0.0/24', this.hosts, o.say);
  }

  get binDir(): string {
    return join(this.o.dir, 'bin');
  }

  /** Registers the Node and starts watching pods; resolves once the first list is handled. */
  async start(): Promise<void> {
    mkdirSync(join(this.o.dir, 'logs'), { recursive: true });
    writeMeshShim(this.binDir, this.o.root);
    await this.register();
    await this.services.start();
    const watch = new k8s.ListWatch<k8s.V1Pod>('/api/v1/pods', new k8s.Watch(this.api.kc), () => this.api.core.listPodForAllNamespaces(), false);
    watch.on('add', (p) => this.seen(p));
    watch.on('update', (p) => this.seen(p));
    watch.on('delete', (p) => void this.gone(p));
    // A watch that ends in error is started again; the list it does first brings back whatever was missed.
    watch.on('error', (err) => {
      if (this.stopped) return;
      this.o.say(`node ${this.o.nodeName}: pod watch failed (${reasonOf(err)}); watching again in 1 s`);
      setTimeout(() => void watch.start().catch(() => {}), 1000).unref();
    });
    this.podWatch = watch;
    await watch.start();
  }

  /** Stops every pod's containers (the API objects stay: a node going away does not delete pods). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.podWatch?.stop();
    await this.services.stop();
    for (const t of this.statusTimers.values()) clearTimeout(t);
    for (const e of this.pods.values()) clearTimeout(e.retry);
    this.kubelet.stopProbes();
    await this.supervisor.stopAll();
  }

  private async register(): Promise<void> {
    const ready = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the mesh runner is playing the node', lastHeartbeatTime: new Date(), lastTransitionTime: new Date() };
    const status: k8s.V1NodeStatus = {
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: this.o.nodeName }],
      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      allocatable: { cpu: '2', memory: '4Gi', pods: '110' },
      conditions: [ready],
      nodeInfo: { architecture: process.arch, bootID: '', containerRuntimeVersion: 'mesh-runner://processes', kernelVersion: '', kubeProxyVersion: '', kubeletVersion: 'v1.20.2-mesh', machineID: '', operatingSystem: 'linux', osImage: 'mesh', systemUUID: '' },
    };
    try {
      await this.api.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: this.o.nodeName, labels: { 'kubernetes.io/hostname': this.o.nodeName, 'kubernetes.io/os': 'linux' } }, status } });
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
    await this.api.core.patchNodeStatus({ name: this.o.nodeName, body: { status } }, mergePatch());
  }

  private seen(pod: k8s.V1Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata!.uid!;
    if (!pod.spec?.nodeName) {
      if (!pod.metadata?.deletionTimestamp && !this.binding.has(uid)) void this.bind(pod);
      return;
    }
    if (pod.spec.nodeName !== this.o.nodeName) return;
    const entry = this.pods.get(key(pod));
    if (entry && entry.pod.metadata!.uid !== uid) return; // an old pod of that name is still going
    if (pod.metadata?.deletionTimestamp) {
      if (entry && !entry.deleting) void this.finish(entry, pod);
      else if (!entry) void this.removeObject(pod);
      return;
    }
    if (entry) {
      entry.pod = pod;
      return;
    }
    const created: Entry = {
      pod, deleting: false,
      rec: { ip: this.ips.assign(uid), startedAt: new Date(), containerNames: [], notReadySince: new Date() },
    };
    this.pods.set(key(pod), created);
    void this.run(created);
  }

  /** What the scheduler does: the pod goes to this node (the only one). */
  private async bind(pod: k8s.V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    this.binding.add(uid);
    const { name, namespace } = pod.metadata as { name: string; namespace: string };
    try {
      await this.api.core.createNamespacedPodBinding({ name, namespace, body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid }, target: { apiVersion: 'v1', kind: 'Node', name: this.o.nodeName } } });
      void this.event(pod, 'Scheduled', `Successfully assigned ${namespace}/${name} to ${this.o.nodeName}`);
    } catch (err) {
      this.binding.delete(uid);
      if (statusOf(err) !== 409 && statusOf(err) !== 404) this.o.say(`node: could not bind ${namespace}/${name}: ${reasonOf(err)}`);
    }
  }

  /** Makes the pod's volumes, plans its containers and starts them; a problem is reported and retried, as the kubelet retries. */
  private async run(entry: Entry): Promise<void> {
    const pod = entry.pod;
    const podDir = join(this.o.dir, 'pods', `${pod.metadata!.namespace}_${pod.metadata!.name}_${pod.metadata!.uid}`);
    try {
      const specs = await this.plan(pod, entry.rec.ip, podDir, entry);
      if (entry.deleting || this.stopped) return;
      entry.rec.problem = undefined;
      const kube = this.kubelet.runPod({ name: key(pod), namespace: pod.metadata!.namespace!, ip: entry.rec.ip }, specs);
      entry.kube = kube;
      this.byKube.set(kube, entry);
      void this.event(pod, 'Started', `started ${specs.length} container(s) on ${entry.rec.ip}`);
      this.reportSoon(entry);
    } catch (err) {
      const reason = err instanceof SandboxError ? 'CreateContainerError' : 'CreateContainerConfigError';
      entry.rec.problem = { reason, message: (err as Error).message };
      this.o.say(`pod ${key(pod)}: cannot start: ${(err as Error).message}; trying again in 5 s`);
      void this.event(pod, 'Failed', (err as Error).message, 'Warning');
      this.reportSoon(entry);
      entry.retry = setTimeout(() => { if (!entry.deleting && !this.stopped) void this.run(entry); }, 5000);
      entry.retry.unref();
    }
  }

  private async plan(pod: k8s.V1Pod, ip: string, podDir: string, entry: Entry): Promise<ProcessSpec[]> {
    const volumes = await makeVolumes(this.api, pod, ip, join(podDir, 'volumes'));
    const spec = pod.spec!;
    // Native sidecars (init containers with restartPolicy Always) start first and keep running.
    // proxy-init is left out: pods here share the node's network namespace, and its iptables rules
    // would capture every pod's traffic; apps reach their proxy through HTTP_PROXY (DESIGN.md).
    const init = (spec.initContainers ?? []).filter((c) => !isProxyInit(c));
    const oneShot = init.filter((c) => c.restartPolicy !== 'Always');
    if (oneShot.length > 0) throw new SandboxError(`init container ${oneShot[0]!.name}: this node runs only native sidecars and proxy-init among init containers`);
    const containers = [...init, ...spec.containers];
    entry.rec.containerNames = containers.map((c) => c.name);
    const specs: ProcessSpec[] = [];
    for (const c of containers) {
      const env = await containerEnv(this.api, pod, c, ip, this.o.apiServer);
      env.PATH = containerPath(this.binDir);
      const argv = containerArgv(c, (s) => expand(s, env));
      const ports = (c.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort }));
      const probes = probesOf(c, ports);
      specs.push({
        name: `${pod.metadata!.namespace}_${pod.metadata!.name}_${c.name}`,
        role: c.name === 'mesh-proxy' || c.name === 'linkerd-proxy' ? 'sidecar' : 'app',
        command: sandboxCommand({ argv, mounts: containerMounts(c, volumes), hostsFile: this.hosts.file, workingDir: c.workingDir ?? this.o.root }),
        env, listens: [], probes,
      });
    }
    return specs;
  }

  /** A deleted pod: not Ready at once, containers stopped in order within its grace period, then the object goes. */
  private async finish(entry: Entry, pod: k8s.V1Pod): Promise<void> {
    entry.deleting = true;
    entry.pod = pod;
    clearTimeout(entry.retry);
    const graceMs = (pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    void this.event(pod, 'Killing', `stopping the pod's containers (grace ${graceMs / 1000} s)`);
    if (entry.kube) {
      const stopping = this.kubelet.deletePod(entry.kube, graceMs);
      await this.report(entry);
      await stopping;
    }
    await this.removeObject(pod);
    this.forget(entry);
  }

  private async removeObject(pod: k8s.V1Pod): Promise<void> {
    try {
      // In the body: a DELETE with a body takes its options from the body alone, not the query.
      await this.api.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid } } });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) this.o.say(`node: could not remove pod ${key(pod)}: ${reasonOf(err)}`);
    }
  }

  /** The object is gone (deleted with no grace, or finished above): nothing of it may keep running. */
  private async gone(pod: k8s.V1Pod): Promise<void> {
    this.binding.delete(pod.metadata!.uid!);
    const entry = this.pods.get(key(pod));
    if (!entry || entry.pod.metadata!.uid !== pod.metadata!.uid) return;
    if (!entry.deleting) {
      entry.deleting = true;
      clearTimeout(entry.retry);
      if (entry.kube) await this.kubelet.deletePod(entry.kube, 0);
    }
    this.forget(entry);
  }

  private forget(entry: Entry): void {
    const uid = entry.pod.metadata!.uid!;
    if (this.pods.get(key(entry.pod)) === entry) this.pods.delete(key(entry.pod));
    if (entry.kube) this.byKube.delete(entry.kube);
    clearTimeout(this.statusTimers.get(entry));
    this.statusTimers.delete(entry);
    this.ips.release(uid);
    rmSync(join(this.o.dir, 'pods', `${entry.pod.metadata!.namespace}_${entry.pod.metadata!.name}_${uid}`), { recursive: true, force: true });
  }

  /** Status changes come in bursts (a container and its probe); one write per burst. */
  private reportSoon(entry: Entry): void {
    if (this.statusTimers.has(entry) || this.stopped) return;
    this.statusTimers.set(entry, setTimeout(() => {
      this.statusTimers.delete(entry);
      void this.report(entry);
    }, 20));
  }

  private async report(entry: Entry): Promise<void> {
    const { name, namespace } = entry.pod.metadata as { name: string; namespace: string };
    try {
      await this.api.core.patchNamespacedPodStatus({ name, namespace, body: { status: podStatus(entry.kube, entry.rec) } }, mergePatch());
    } catch (err) {
      if (statusOf(err) !== 404 && !this.stopped) this.o.say(`node: status of ${namespace}/${name} not written: ${reasonOf(err)}`);
    }
  }

  /** An Event on the pod, for `kubectl describe pod` and `kubectl get events`. */
  private async event(pod: k8s.V1Pod, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): Promise<void> {
    const now = new Date();
    const { name, namespace, uid } = pod.metadata as { name: string; namespace: string; uid: string };
    try {
      await this.api.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', name, namespace, uid },
          reason, message, type, count: 1, firstTimestamp: now, lastTimestamp: now,
          source: { component: 'kubelet', host: this.o.nodeName },
        },
      });
    } catch {
      // Events are a courtesy: a pod runs whether or not its events were written.
    }
  }

  /** Where the processes of a pod's containers log (kubectl logs has no server here to ask). */
  logFile(namespace: string, pod: string, container: string): string {
    return join(this.o.dir, 'logs', `${namespace}_${pod}_${container}.log`);
  }
}

function isProxyInit(c: k8s.V1Container): boolean {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  return c.name === 'mesh-init' || c.name === 'linkerd-init' || argv.includes('proxy-init');
}

/** A container's probes, read as the runner reads a Deployment's; a bad one names the container and field. */
function probesOf(c: k8s.V1Container, ports: Array<{ name?: string; containerPort: number }>): ContainerProbes {
  try {
    return readProbes(Fields.of(c, `container ${c.name}`), ports);
  } catch (err) {
    if (err instanceof FieldError) throw new SandboxError(err.message);
    throw err;
  }
}
