// The runner's kubelet: it runs each pod's containers through the Supervisor (restartPolicy:
// Always), probes them (startup, liveness, readiness: prober.ts, probe-worker.ts), restarts a
// container whose liveness or startup probe fails, and keeps each pod's Ready condition (all its
// containers ready). A meshed pod's Ready is written to a file its sidecar watches, and the
// sidecar carries it in its registration: only Ready pods are endpoints (docs/DESIGN.md, "Pods").
import { writeAtomically } from './atomic-file.ts';
import type { ProcessSpec } from './topology.ts';
import type { Started, Supervisor } from './supervisor.ts';
import { ProbeWorker } from './probe-worker.ts';
import type { ProbeOutcome } from './prober.ts';

export interface ContainerState {
  process: Started;
  /** The startup probe passed (or there is none): liveness and readiness probes run. */
  started: boolean;
  ready: boolean;
  /** The last probe failure, for messages. */
  lastProblem?: string;
  workers: ProbeWorker[];
}

export interface KubePod {
  name: string;
  namespace: string;
  ip: string;
  /** The sidecar first (when meshed), then the app; one container for the ingress and the control plane. */
  containers: ContainerState[];
  ready: boolean;
  createdAtMs: number;
  /** Where its Ready condition is written for its sidecar (meshed pods only). */
  readyFile?: string;
  terminating: boolean;
}

export class Kubelet {
  private readonly pods = new Map<string, KubePod>();
  private readonly byProcess = new Map<Started, { pod: KubePod; container: ContainerState }>();
  private readonly listeners = new Set<(pod: KubePod) => void>();

  constructor(
    private readonly supervisor: Supervisor,
    private readonly say: (line: string) => void,
  ) {
    supervisor.onEvent((e) => {
      const found = this.byProcess.get(e.process);
      if (!found) return;
      if (e.kind === 'started') this.containerStarted(found.pod, found.container);
      if (e.kind === 'exited') this.containerExited(found.pod, found.container);
      if (e.kind === 'restart-scheduled') {
        const waitS = Math.round(((e.process.restartAtMs ?? Date.now()) - Date.now()) / 1000);
        this.say(`pod ${found.pod.name}: container ${e.process.spec.name} exited (${describeExit(e.process)}); restarting in ${waitS} s (back-off)`);
        this.changed(found.pod);
      }
    });
  }

  /** Starts a pod's containers (sidecar before app, as the injector orders them). */
  runPod(p: { name: string; namespace: string; ip: string; readyFile?: string }, specs: ProcessSpec[]): KubePod {
    const pod: KubePod = { ...p, containers: [], ready: false, createdAtMs: Date.now(), terminating: false };
    this.pods.set(pod.name, pod);
    if (pod.readyFile) writeAtomically(pod.readyFile, 'false\n');
    for (const spec of specs) {
      const process = this.supervisor.start(spec, pod.name);
      const container: ContainerState = { process, started: false, ready: false, workers: [] };
      pod.containers.push(container);
      this.byProcess.set(process, { pod, container });
      this.containerStarted(pod, container);
    }
    return pod;
  }

  get all(): KubePod[] {
    return [...this.pods.values()];
  }

  pod(name: string): KubePod | undefined {
    return this.pods.get(name);
  }

  onChange(listener: (pod: KubePod) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every container of the pod is ready; rejects at the deadline or when `failed()` says so. */
  async whenReady(pod: KubePod, deadline: number, failed: () => string | undefined = () => undefined): Promise<void> {
    while (!pod.ready) {
      const problem = failed();
      if (problem) throw new Error(problem);
      if (Date.now() > deadline) {
        const waiting = pod.containers.filter((c) => !c.ready).map((c) => `${c.process.spec.name}${c.lastProblem ? ` (${c.lastProblem})` : ''}`);
        throw new Error(`not ready at the deadline; waiting for ${waiting.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Deletes a pod gracefully: it leaves the endpoints first (not Ready), then its sidecar is told
   * to stop (it deregisters, waits for callers to hear, stops listening, finishes in-flight
   * requests) and only then the app, so no request reaches an app that has gone.
   */
  async deletePod(pod: KubePod, graceMs: number): Promise<void> {
    pod.terminating = true;
    this.recompute(pod);
    for (const c of pod.containers) for (const w of c.workers) w.stop();
    for (const c of pod.containers) await this.supervisor.remove(c.process, graceMs);
    for (const c of pod.containers) this.byProcess.delete(c.process);
    this.pods.delete(pod.name);
    this.changed(pod);
  }

  stopProbes(): void {
    for (const pod of this.pods.values()) for (const c of pod.containers) for (const w of c.workers) w.stop();
  }

  private containerStarted(pod: KubePod, c: ContainerState): void {
    for (const w of c.workers) w.stop();
    c.workers = [];
    c.ready = false;
    const probes = c.process.spec.probes ?? {};
    c.started = !probes.startup;
    if (probes.startup) {
      const startup = new ProbeWorker('startup', probes.startup, pod.ip, (ok, outcome) => {
        if (ok) {
          startup.stop();
          c.started = true;
          this.startRunningProbes(pod, c);
        } else this.failedProbe(pod, c, 'startup', outcome);
      });
      c.workers.push(startup);
      startup.start();
    } else this.startRunningProbes(pod, c);
    this.recompute(pod);
  }

  private startRunningProbes(pod: KubePod, c: ContainerState): void {
    const probes = c.process.spec.probes ?? {};
    if (probes.liveness) {
      const liveness = new ProbeWorker('liveness', probes.liveness, pod.ip, (ok, outcome) => {
        if (!ok) this.failedProbe(pod, c, 'liveness', outcome);
      });
      c.workers.push(liveness);
      liveness.start();
    }
    if (probes.readiness) {
      const readiness = new ProbeWorker('readiness', probes.readiness, pod.ip, (ok, outcome) => {
        c.lastProblem = ok ? undefined : `readiness probe failed: ${outcome.detail}`;
        if (c.ready !== ok && !c.process.exited) {
          c.ready = ok;
          if (!ok) this.say(`pod ${pod.name}: container ${c.process.spec.name} not ready: ${outcome.detail}`);
          this.recompute(pod);
        }
      });
      c.workers.push(readiness);
      readiness.start();
    } else {
      // No readiness probe: ready as soon as it runs and has started, as in Kubernetes.
      c.ready = true;
      this.recompute(pod);
    }
  }

  /** A failed liveness or startup probe: the container is killed and restarted (with back-off). */
  private failedProbe(pod: KubePod, c: ContainerState, kind: 'liveness' | 'startup', outcome: ProbeOutcome): void {
    if (c.process.exited || pod.terminating) return;
    c.lastProblem = `${kind} probe failed: ${outcome.detail}`;
    this.say(`pod ${pod.name}: container ${c.process.spec.name} failed its ${kind} probe (${outcome.detail}); restarting it`);
    for (const w of c.workers) w.stop();
    this.supervisor.restart(c.process);
  }

  private containerExited(pod: KubePod, c: ContainerState): void {
    for (const w of c.workers) w.stop();
    c.workers = [];
    c.ready = false;
    c.started = false;
    this.recompute(pod);
  }

  private recompute(pod: KubePod): void {
    const ready = !pod.terminating && pod.containers.length > 0 && pod.containers.every((c) => c.ready);
    if (ready !== pod.ready) {
      pod.ready = ready;
      // Written at once, not debounced: this is how fast a dead app leaves its Services' endpoints.
      if (pod.readyFile) writeAtomically(pod.readyFile, `${ready}\n`);
    }
    this.changed(pod);
  }

  private changed(pod: KubePod): void {
    for (const l of this.listeners) l(pod);
  }
}

function describeExit(s: Started): string {
  return s.exited?.signal ?? `code ${s.exited?.code}`;
}
