// A pod's status as the kubelet reports it (pods/status): phase, podIP, the conditions the
// controllers read (Ready and ContainersReady make a pod an endpoint of its Services), and one
// status per container (ready, restarts, running / waiting in CrashLoopBackOff / last exit).
import type * as k8s from '@kubernetes/client-node';
import type { KubePod } from '../kubelet.ts';

/** What the node knows of a pod beyond the kubelet's view: when it started, when conditions last changed. */
export interface PodRecord {
  ip: string;
  startedAt: Date;
  /** Container names, in the order of the kubelet's containers. */
  containerNames: string[];
  readySince?: Date;
  notReadySince: Date;
  /** Set while the pod cannot start (a volume, an env var or a probe it cannot make). */
  problem?: { reason: string; message: string };
}

export function podStatus(kube: KubePod | undefined, rec: PodRecord): k8s.V1PodStatus {
  const now = new Date();
  const ready = kube?.ready === true;
  if (ready && !rec.readySince) rec.readySince = now;
  if (!ready && rec.readySince) {
    rec.readySince = undefined;
    rec.notReadySince = now;
  }
  const since = ready ? rec.readySince! : rec.notReadySince;
  const cond = (type: string, status: boolean, reason?: string): k8s.V1PodCondition => ({
    type, status: status ? 'True' : 'False', lastTransitionTime: since, ...(status || !reason ? {} : { reason }),
  });
  const containerStatuses: k8s.V1ContainerStatus[] = rec.containerNames.map((name, i) => {
    const c = kube?.containers[i];
    const s = c?.process;
    const last = s?.lastExit && s.restarts > 0 ? { terminated: { exitCode: s.lastExit.code ?? 137, signal: s.lastExit.signal ? signalNumber(s.lastExit.signal) : undefined, reason: s.lastExit.code === 0 ? 'Completed' : 'Error' } } : undefined;
    let state: k8s.V1ContainerState;
    if (rec.problem) state = { waiting: { reason: rec.problem.reason, message: rec.problem.message } };
    else if (!s) state = { waiting: { reason: 'ContainerCreating' } };
    else if (s.exited) state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting the failed container ${name}` } };
    else state = { running: { startedAt: new Date(s.startedAtMs) } };
    return {
      name, ready: c?.ready === true, started: c !== undefined && !s?.exited && c.started, restartCount: s?.restarts ?? 0,
      image: 'mesh', imageID: '', containerID: s?.child.pid ? `process://${s.child.pid}` : undefined, state, lastState: last ?? {},
    } as k8s.V1ContainerStatus;
  });
  const allRunning = containerStatuses.length > 0 && containerStatuses.every((c) => c.state?.running);
  return {
    phase: kube && (allRunning || (kube.containers.some((c) => c.process.restarts > 0))) ? 'Running' : 'Pending',
    hostIP: '127.0.0.1',
    podIP: rec.ip,
    podIPs: [{ ip: rec.ip }],
    startTime: rec.startedAt,
    conditions: [
      cond('Initialized', true),
      cond('Ready', ready, 'ContainersNotReady'),
      cond('ContainersReady', ready, 'ContainersNotReady'),
      { type: 'PodScheduled', status: 'True', lastTransitionTime: rec.startedAt },
    ],
    containerStatuses,
  };
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}
