// Publishes the running demo to STATE/pods.json, as the kubelet reports pod status to the API
// server: rewritten (coalesced) whenever a container starts, exits, or changes readiness, so
// `mesh pods` shows READY, STATUS, RESTARTS and AGE as they are now.
import type { DemoPlan, IngressPlan, PodPlan } from './topology.ts';
import type { Kubelet, KubePod } from './kubelet.ts';
import type { Supervisor } from './supervisor.ts';
import { writeRun, type PodRecord, type PodStatusRecord } from './state.ts';
import { identityDir } from './mesh-commands.ts';
import { identify } from './process-identity.ts';
import { joinHostPort } from '../../../api/host-port.ts';

export class StatusPublisher {
  private pending?: NodeJS.Immediate;
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly startedAt = new Date().toISOString();
  /** This runner's start identity: `mesh pods` tells it from a later process given its PID (none without /proc: JSON then leaves it out). */
  private readonly runnerStarted = identify(process.pid)?.started;
  /** The pods the runner runs now: the plan's, then whatever a rollout made. */
  readonly podPlans: Array<PodPlan | IngressPlan>;

  constructor(
    private readonly stateDir: string,
    private readonly plan: DemoPlan,
    /** `published`: what a user on the host dials, where it differs from the plan's addresses (`--netns`). */
    private readonly opts: { manifestsDir: string; controlSocket?: string; published?: { ingressUrl: string; vizAddr: string; dashboardAddr: string } },
    private readonly kubelet: Kubelet,
    private readonly supervisor: Supervisor,
  ) {
    this.podPlans = [plan.ingress, ...plan.pods];
    this.unsubscribe = kubelet.onChange(() => this.soon());
  }

  /** Coalesces a burst of changes (a pod's two containers) into one write. */
  soon(): void {
    if (this.closed || this.pending) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      this.now();
    });
  }

  now(): void {
    if (this.closed) return;
    const { plan } = this;
    const shown = this.opts.published ?? plan.placement;
    const cpNames = new Set(plan.controlPlane.map((s) => s.name));
    writeRun(this.stateDir, {
      runnerPid: process.pid, runnerStarted: this.runnerStarted, startedAt: this.startedAt, ingressUrl: shown.ingressUrl, stateDir: this.stateDir,
      controlPlane: {
        identityAddr: plan.placement.identityAddr, destinationAddr: plan.placement.destinationAddr,
        trustAnchorsFile: `${identityDir(plan.placement)}/ca.crt`, resourcesDir: this.opts.manifestsDir,
        vizAddr: shown.vizAddr, dashboardAddr: shown.dashboardAddr,
      },
      pods: this.podPlans.map((p): PodRecord => {
        const kube = this.kubelet.pod(p.name);
        return {
          name: p.name, namespace: p.namespace, workload: p.workload, ip: p.ip, serviceAccount: p.serviceAccount,
          identity: p.identity ?? null, meshed: p.meshed, adminUrl: p.meshed ? `http://${joinHostPort(p.ip, 4191)}` : null,
          appPorts: p.ports.map((x) => x.containerPort), role: p === plan.ingress ? 'ingress' : 'workload',
          ...(kube ? { status: podStatus(kube) } : {}),
        };
      }),
      controlPlanePods: this.kubelet.all.filter((k) => cpNames.has(k.name)).map((k) => ({ name: k.name, namespace: k.namespace, address: k.ip, status: podStatus(k) })),
      processes: this.supervisor.processes.map((s) => ({ name: s.spec.name, role: s.spec.role, pid: s.child.pid ?? -1, log: s.logFile, restarts: s.restarts })),
      ...(this.opts.controlSocket ? { controlSocket: this.opts.controlSocket } : {}),
    });
  }

  close(): void {
    this.closed = true;
    if (this.pending) clearImmediate(this.pending);
    this.unsubscribe();
  }
}

export function podStatus(pod: KubePod): PodStatusRecord {
  return {
    ready: pod.ready,
    createdAt: new Date(pod.createdAtMs).toISOString(),
    containers: pod.containers.map((c) => ({
      // The container's name as kubectl shows it: the app's, or linkerd-proxy for the sidecar.
      name: c.process.spec.role === 'sidecar' ? 'linkerd-proxy' : c.process.spec.name,
      ready: c.ready,
      restarts: c.process.restarts,
      state: c.process.exited ? 'waiting' : 'running',
      startedAt: new Date(c.process.startedAtMs).toISOString(),
      pid: c.process.child.pid ?? -1,
      ...(c.process.lastExit ? { lastExit: { code: c.process.lastExit.code, signal: c.process.lastExit.signal } } : {}),
    })),
  };
}
