// `mesh pods`: the running demo's pods as kubectl shows them (READY as ready/total containers,
// STATUS, RESTARTS, AGE) with address, service account and identity, from the runner's pods.json,
// which the runner (the demo's kubelet) rewrites whenever a container starts, exits or changes readiness.
// With no runner here (docker-compose, or a viz of its own), the pods the destination knows, from the viz.
import net from 'node:net';
import type { PodRecord, PodStatusRecord, RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { parseSpiffeId } from '../../api/spiffe.ts';
import { reportingVizErrors, vizAddress, vizGet } from '../../viz/cli/client.ts';
import { DemoNotFound, findDemo, STATE_ENV } from '../find-demo.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'list the running demo pods with READY, STATUS, RESTARTS, AGE, address, service account and identity (-o json)';

export interface PodStatus {
  name: string;
  namespace: string;
  address: string;
  serviceAccount: string;
  identity: string | null;
  meshed: boolean;
  /** The pod's Ready condition: every container ready. */
  ready: boolean;
  /** kubectl's READY column: ready containers / containers ('-' when only the proxy is known). */
  containers: string;
  status: string;
  /** null when the source cannot know (the destination knows a pod, not its containers' history). */
  restarts: number | null;
  /** Seconds since the pod was created; null when unknown. */
  ageSeconds: number | null;
}

/** A pod as the viz lists it (GET /api/v1/pods): registered with the destination by its proxy. */
interface VizPod { namespace: string; name: string; ip: string; identity: string | null; ready: boolean; lastError: string | null }

/** The pods the destination knows, through the viz: every meshed pod of a compose deployment, say. */
export async function podsFromViz(addr: string): Promise<PodStatus[]> {
  const { pods } = await vizGet<{ pods: VizPod[] }>(addr, '/api/v1/pods', {});
  return pods.map((p) => ({
    name: p.name, namespace: p.namespace, address: p.ip, identity: p.identity, meshed: p.identity !== null,
    serviceAccount: (p.identity && parseSpiffeId(p.identity)?.serviceAccount) || '-',
    ready: p.ready, containers: '-', status: p.lastError ? 'Unknown' : p.ready ? 'Running' : 'NotReady', restarts: null, ageSeconds: null,
  }));
}

/** A file from a runner without status: ask the proxy's /ready (or the app's port) right now. */
async function isReadyNow(pod: PodRecord): Promise<boolean> {
  if (pod.adminUrl) {
    try {
      const res = await fetch(`${pod.adminUrl}/ready`, { signal: AbortSignal.timeout(1500) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }
  if (pod.appPorts.length === 0) return true;
  return new Promise((done) => {
    const s = net.connect({ host: pod.ip, port: pod.appPorts[0]! });
    s.setTimeout(1500, () => { s.destroy(); done(false); });
    s.once('connect', () => { s.destroy(); done(true); });
    s.once('error', () => done(false));
  });
}

/**
 * kubectl's STATUS: Running, or CrashLoopBackOff while a container that exited waits out its
 * back-off, the first wait (10 s, before any restart) included, as the node mode reports it.
 */
function statusWord(s: PodStatusRecord): string {
  return s.containers.some((c) => c.state === 'waiting') ? 'CrashLoopBackOff' : 'Running';
}

function fromStatus(s: PodStatusRecord, now: number) {
  return {
    ready: s.ready,
    containers: `${s.containers.filter((c) => c.ready).length}/${s.containers.length}`,
    status: statusWord(s),
    restarts: s.containers.reduce((n, c) => n + c.restarts, 0),
    ageSeconds: Math.max(0, Math.round((now - Date.parse(s.createdAt)) / 1000)),
  };
}

export async function podStatuses(run: RunRecord, now = Date.now()): Promise<PodStatus[]> {
  const pods = await Promise.all(run.pods.map(async (p) => {
    const base = { name: p.name, namespace: p.namespace, address: p.ip, serviceAccount: p.serviceAccount, identity: p.identity, meshed: p.meshed };
    if (p.status) return { ...base, ...fromStatus(p.status, now) };
    const ready = await isReadyNow(p);
    const total = p.meshed && p.role !== 'ingress' ? 2 : 1;
    return { ...base, ready, containers: `${ready ? total : 0}/${total}`, status: 'Running', restarts: 0, ageSeconds: Math.round((now - Date.parse(run.startedAt)) / 1000) };
  }));
  // The control plane, as `kubectl get pods -A` lists linkerd's own pods.
  for (const c of run.controlPlanePods ?? []) {
    pods.push({ name: c.name, namespace: c.namespace, address: c.address, serviceAccount: c.name, identity: null, meshed: false, ...fromStatus(c.status, now) });
  }
  return pods;
}

/** kubectl's AGE (its HumanDuration): 90s, 3m20s, 61m, 3h5m, 20h, 2d4h, 9d. */
export function age(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const h = Math.floor(seconds / 3600);
  const d = Math.floor(seconds / 86_400);
  const pair = (a: number, ua: string, b: number, ub: string) => (b === 0 ? `${a}${ua}` : `${a}${ua}${b}${ub}`);
  if (seconds < 120) return `${seconds}s`;
  if (m < 10) return pair(m, 'm', seconds % 60, 's');
  if (m < 180) return `${m}m`;
  if (h < 8) return pair(h, 'h', m % 60, 'm');
  if (h < 48) return `${h}h`;
  if (h < 192) return pair(d, 'd', h % 24, 'h');
  return `${d}d`;
}

export function run(args: string[]): Promise<number> {
  return runCommand('pods', `usage: mesh pods [-o json] [--state DIR] [--viz-addr HOST:PORT]
  --state DIR   the demo's state folder (default $${STATE_ENV}, else the nearest .mesh-state/ above the working directory, else the project's)
  --viz-addr    with no demo running here (docker-compose): the viz to ask (default $MESH_VIZ_ADDR, else 127.0.0.1:8085)`, async () => {
    const { values } = parseCommandArgs(args, { output: { type: 'string', short: 'o' }, state: { type: 'string' }, 'viz-addr': { type: 'string' } });
    if (values.output !== undefined && values.output !== 'json') throw new UsageError(`-o must be "json", got "${values.output}"`);
    return listPods(values.state, values['viz-addr'], values.output === 'json');
  });
}

async function listPods(state: string | undefined, vizFlag: string | undefined, json: boolean): Promise<number> {
  let pods: PodStatus[];
  try {
    pods = await podStatuses(findDemo({ flag: state }).run);
  } catch (err) {
    // No runner's record (and none asked for by --state): a deployment the runner did not start.
    if (!(err instanceof DemoNotFound) || err.code !== 'NOT_RUNNING' || state !== undefined) {
      console.error(`mesh pods: ${(err as Error).message}`);
      return 1;
    }
    let found: PodStatus[] | undefined;
    const code = await reportingVizErrors('pods', async () => {
      found = await podsFromViz(vizAddress(vizFlag, state));
      return 0;
    });
    if (!found) {
      console.error(`mesh pods: and no demo runs here either: ${err.message}`);
      return code || 1;
    }
    pods = found;
  }
  if (json) {
    console.log(JSON.stringify({ pods }, null, 2));
    return 0;
  }
  const rows = [['NAME', 'NAMESPACE', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'ADDRESS', 'SERVICE ACCOUNT', 'IDENTITY']];
  for (const p of pods) {
    rows.push([p.name, p.namespace, p.containers, p.status, p.restarts === null ? '-' : String(p.restarts), p.ageSeconds === null ? '-' : age(p.ageSeconds), p.address, p.serviceAccount, p.identity ?? (p.namespace === 'mesh-system' ? '(control plane)' : '(not meshed)')]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd());
  return 0;
}
