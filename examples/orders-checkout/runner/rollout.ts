// `kubectl rollout restart` for the demo: replaces a Deployment's pods one at a time, with
// Kubernetes's default strategy for a few replicas (maxSurge 1, maxUnavailable 0): a new pod
// first, and only once it is Ready is an old one deleted (gracefully: it leaves the endpoints,
// its proxy finishes in-flight requests, then its app stops).
import { copyFileSync, existsSync } from 'node:fs';
import { CodedError } from '../../../api/errors.ts';
import type { Kubelet } from './kubelet.ts';
import type { StatusPublisher } from './status-publisher.ts';
import { planPod, tokenPath, type DemoPlan, type PodPlan } from './topology.ts';
import type { PodNetwork } from './run-demo.ts';

export class RolloutError extends CodedError<'NOT_FOUND' | 'IN_PROGRESS' | 'NOT_READY'> {
  override readonly name = 'RolloutError';
}

export class Rollouts {
  private running = false;
  private nextNumber: number;
  private readonly podCounters = new Map<string, number>();

  constructor(
    private readonly plan: DemoPlan,
    private readonly kubelet: Kubelet,
    private readonly publisher: StatusPublisher,
    private readonly readyTimeoutMs: number,
    /** `--netns`: a new pod gets its sandbox first, an old one's goes after its containers. */
    private readonly network?: PodNetwork,
  ) {
    this.nextNumber = plan.nextPodNumber;
    for (const w of plan.workloads) this.podCounters.set(w.name, w.replicas);
  }

  /**
   * `kubectl rollout restart deployment -n NS`: every Deployment of `namespace`, one after the
   * other (each Deployment's pods one at a time, as below), so that two cores never start the
   * whole namespace at once. Stops at the first Deployment whose new pod does not get Ready.
   */
  async restartAll(namespace: string, say: (line: string) => void): Promise<void> {
    const workloads = this.plan.workloads.filter((w) => w.namespace === namespace);
    if (workloads.length === 0) {
      const namespaces = [...new Set(this.plan.workloads.map((w) => w.namespace))].join(', ');
      throw new RolloutError('NOT_FOUND', `no Deployment in namespace ${namespace} (the demo's namespaces: ${namespaces})`);
    }
    await this.exclusively(async () => {
      say(`restarting ${workloads.length} deployments in ${namespace}, one after another: ${workloads.map((w) => w.name).join(', ')}`);
      for (const w of workloads) await this.replacePods(w, say);
    });
  }

  /** Restarts every pod of `namespace/deployment`; `say` hears each step. Rejects if a new pod never gets Ready. */
  async restart(namespace: string, deployment: string, say: (line: string) => void): Promise<void> {
    const workload = this.plan.workloads.find((w) => w.name === deployment && w.namespace === namespace);
    if (!workload) {
      const known = this.plan.workloads.map((w) => `${w.namespace}/${w.name}`).join(', ');
      throw new RolloutError('NOT_FOUND', `no Deployment ${namespace}/${deployment} (the demo runs ${known})`);
    }
    await this.exclusively(() => this.replacePods(workload, say));
  }

  /** One rollout at a time, as a Deployment controller would not run two over the same pods. */
  private async exclusively(rollout: () => Promise<void>): Promise<void> {
    if (this.running) throw new RolloutError('IN_PROGRESS', 'a rollout is already in progress; wait for it to finish');
    this.running = true;
    try {
      await rollout();
    } finally {
      this.running = false;
    }
  }

  /** Replaces a Deployment's pods one at a time: a new pod Ready, then an old one deleted. */
  private async replacePods(workload: DemoPlan['workloads'][number], say: (line: string) => void): Promise<void> {
    const { name: deployment, namespace } = workload;
    const old = this.publisher.podPlans.filter((p): p is PodPlan => 'app' in p && p.workload === deployment && p.namespace === namespace);
    say(`rolling out deployment/${deployment}: ${old.length} pod(s), one at a time (maxSurge 1, maxUnavailable 0)`);
    for (const [i, previous] of old.entries()) {
      const n = this.podCounters.get(deployment) ?? 0;
      this.podCounters.set(deployment, n + 1);
      const fresh = planPod(workload, `${deployment}-${n}`, this.plan.placement.podIp(this.nextNumber++), this.plan.placement);
      // Same service account, same token (Kubernetes mounts the account's token into every pod).
      const token = tokenPath(this.plan.placement, previous.name);
      if (fresh.meshed && existsSync(token)) copyFileSync(token, tokenPath(this.plan.placement, fresh.name));
      this.publisher.podPlans.push(fresh);
      const began = Date.now();
      const specs = this.network ? await this.network.create(fresh) : fresh.sidecar ? [fresh.sidecar, fresh.app] : [fresh.app];
      const pod = this.kubelet.runPod({ name: fresh.name, namespace: fresh.namespace, ip: fresh.ip, readyFile: fresh.readyFile }, specs);
      say(`[${i + 1}/${old.length}] started ${fresh.name} (${fresh.ip}); waiting for it to be Ready`);
      try {
        await this.kubelet.whenReady(pod, Date.now() + this.readyTimeoutMs);
      } catch (err) {
        throw new RolloutError('NOT_READY', `${fresh.name} did not become Ready: ${(err as Error).message}; ${previous.name} keeps serving, the rollout stops here`);
      }
      say(`[${i + 1}/${old.length}] ${fresh.name} is Ready after ${Date.now() - began} ms; stopping ${previous.name}`);
      const gone = this.kubelet.pod(previous.name);
      if (gone) await this.kubelet.deletePod(gone, previous.graceMs);
      await this.network?.remove(previous.name);
      const at = this.publisher.podPlans.indexOf(previous);
      if (at >= 0) this.publisher.podPlans.splice(at, 1);
      this.publisher.soon();
      say(`[${i + 1}/${old.length}] ${previous.name} stopped`);
    }
    say(`deployment/${deployment} restarted`);
  }
}
