// `mesh pods`: the running demo's pods (name, namespace, address, service account, identity,
// ready), read from the runner's pods.json and each proxy's /ready right now.
import net from 'node:net';
import type { PodRecord, RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { findDemo, STATE_ENV } from '../find-demo.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'list the running demo pods with their address, service account, identity and readiness (-o json)';

export interface PodStatus {
  name: string;
  namespace: string;
  address: string;
  serviceAccount: string;
  identity: string | null;
  meshed: boolean;
  ready: boolean;
}

async function isReady(pod: PodRecord): Promise<boolean> {
  if (pod.adminUrl) {
    try {
      const res = await fetch(`${pod.adminUrl}/ready`, { signal: AbortSignal.timeout(1500) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }
  // No sidecar: ready when its first port accepts connections (or, with no port, when listed).
  if (pod.appPorts.length === 0) return true;
  return new Promise((done) => {
    const s = net.connect({ host: pod.ip, port: pod.appPorts[0]! });
    s.setTimeout(1500, () => { s.destroy(); done(false); });
    s.once('connect', () => { s.destroy(); done(true); });
    s.once('error', () => done(false));
  });
}

export async function podStatuses(run: RunRecord): Promise<PodStatus[]> {
  return Promise.all(run.pods.map(async (p) => ({
    name: p.name, namespace: p.namespace, address: p.ip, serviceAccount: p.serviceAccount,
    identity: p.identity, meshed: p.meshed, ready: await isReady(p),
  })));
}

export function run(args: string[]): Promise<number> {
  return runCommand('pods', `usage: mesh pods [-o json] [--state DIR]
  --state DIR   the demo's state folder (default $${STATE_ENV}, else the nearest .mesh-state/ above the working directory, else the project's)`, async () => {
    const { values } = parseCommandArgs(args, { output: { type: 'string', short: 'o' }, state: { type: 'string' } });
    if (values.output !== undefined && values.output !== 'json') throw new UsageError(`-o must be "json", got "${values.output}"`);
    return listPods(values.state, values.output === 'json');
  });
}

async function listPods(state: string | undefined, json: boolean): Promise<number> {
  let pods: PodStatus[];
  try {
    pods = await podStatuses(findDemo({ flag: state }).run);
  } catch (err) {
    console.error(`mesh pods: ${(err as Error).message}`);
    return 1;
  }
  if (json) {
    console.log(JSON.stringify({ pods }, null, 2));
    return 0;
  }
  const rows = [['NAME', 'NAMESPACE', 'ADDRESS', 'SERVICE ACCOUNT', 'READY', 'IDENTITY']];
  for (const p of pods) rows.push([p.name, p.namespace, p.address, p.serviceAccount, p.ready ? 'yes' : 'no', p.identity ?? '(not meshed)']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd());
  return 0;
}
