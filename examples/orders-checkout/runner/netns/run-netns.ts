// `npm start -- --netns`: the demo with every pod in a network namespace of its own, as in a
// cluster, and apps that know nothing of the mesh (proxy-init's iptables, no proxy variables).
// Two runners: this one on the host (root) makes the node's namespace and its bridge, forwards the
// front door, the viz and the dashboard to the host's loopback, and starts the other inside the
// node's namespace, where the usual runner (run-demo.ts) plays the kubelet with a pod sandbox per pod
// (sandboxes.ts). On stop, and at the next start after a crash, everything of the run is removed.
import { accessSync, constants, mkdirSync, rmSync, watch } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { localPlacement, netnsPlacement } from '../topology.ts';
import { runDemo, type DemoOptions } from '../run-demo.ts';
import { readWorkloads } from '../deployments.ts';
import { acquireLock, logsDir } from '../state.ts';
import { runInner } from '../inner-runner.ts';
import { writeManifestsWithClusterIps } from '../cluster-ips.ts';
import { createNode, NetnsError, nodeNetns, removeAll, type NetnsNames } from './network.ts';
import { closeAll, forwardFromHost, forwardIntoNamespace, forwardOnNodeLoopback, type Forward } from './port-forward.ts';
import { PodSandboxes } from './sandboxes.ts';
import { splitHostPort } from '../../../../api/host-port.ts';

/** Set for the runner inside the node's namespace: the namespace's name. */
const INSIDE = 'MESH_NETNS_NODE';
/** The prefix of every namespace of the run (default `meshnet`); a test sets its own so it never meets a learner's demo. */
export const PREFIX_ENV = 'MESH_DEMO_NETNS';

export function netnsNames(env = process.env): NetnsNames {
  const prefix = env[PREFIX_ENV] || 'meshnet';
  // No '-': a run owns `prefix` and `prefix-*`, so with a '-' one run's prefix could fall among
  // another's pods (meshnet-2 among meshnet's), and starting one would remove the other as leftovers.
  if (!/^[a-z][a-z0-9]{0,19}$/.test(prefix)) throw new NetnsError(`${PREFIX_ENV}="${prefix}": expected a short name of lowercase letters and digits (no -, at most 20 characters)`);
  return { prefix };
}

export async function runNetnsDemo(o: DemoOptions): Promise<number> {
  const names = netnsNames();
  return process.env[INSIDE] ? inside(o, names) : outside(o, names);
}

const runDir = (o: DemoOptions, n: NetnsNames) => join(o.stateDir, 'netns', n.prefix);

/** The front door, the viz and the dashboard: host loopback (the default demo's addresses, or MESH_DEMO_NET's) <-> inside. */
function forwards(o: DemoOptions, n: NetnsNames): Forward[] {
  const host = localPlacement(o.stateDir, o.root);
  const node = netnsPlacement(o.stateDir, o.root);
  const dir = runDir(o, n);
  return [
    { hostAddr: host.ingressListen, socket: join(dir, 'ingress.sock'), target: node.ingressListen },
    { hostAddr: host.vizAddr, socket: join(dir, 'viz.sock'), target: node.vizAddr },
    { hostAddr: host.dashboardAddr, socket: join(dir, 'dashboard.sock'), target: node.dashboardAddr },
  ];
}

/** What `--netns` needs, checked before anything is made: root, and the tools it runs. */
function preflight(): void {
  if (process.getuid?.() !== 0) {
    throw new NetnsError('--netns needs root: it creates network namespaces, veth pairs and a bridge, and proxy-init installs iptables rules in each pod.\n' +
      '  Run it as root (sudo npm start -- --netns), or run the default demo (npm start), which needs no root and gives each pod a 127.0.10.N address.');
  }
  const path = (process.env.PATH ?? '').split(':');
  const missing = [['ip', 'iproute2'], ['nsenter', 'util-linux'], ['setpriv', 'util-linux'], ['iptables-restore', 'iptables']]
    .filter(([bin]) => !path.some((d) => { try { accessSync(join(d, bin!), constants.X_OK); return true; } catch { return false; } }));
  if (missing.length > 0) throw new NetnsError(`--netns needs ${missing.map(([b, pkg]) => `${b} (Debian package ${pkg})`).join(', ')} on the PATH`);
}

/** On the host: make the node's namespace, forward the published ports, run the demo inside, remove it all after. */
async function outside(o: DemoOptions, n: NetnsNames): Promise<number> {
  preflight();
  const dir = runDir(o, n);
  mkdirSync(dir, { recursive: true });
  // One run per prefix and state folder: the leftovers removed below are never a live run's.
  const releaseLock = acquireLock(dir);
  const servers: Awaited<ReturnType<typeof forwardFromHost>>[] = [];
  let early: string | undefined;
  const onEarly = (signal: NodeJS.Signals) => (early ??= signal);
  process.on('SIGINT', onEarly);
  process.on('SIGTERM', onEarly);
  try {
    const left = await removeAll(n);
    if (left.length > 0) o.say(`removed what a previous --netns run left behind: network namespaces ${left.join(', ')}`);
    await createNode(n);
    o.say(`network namespace ${nodeNetns(n)}: bridge with the node's address ${splitHostPort(netnsPlacement(o.stateDir, o.root).identityAddr, 'identity address').host}; nothing in it routes to this machine`);
    for (const f of forwards(o, n)) servers.push(await forwardFromHost(f));
    if (early) return 0;
    return await runInner('nsenter', [`--net=/run/netns/${nodeNetns(n)}`, '--', process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)],
      { ...process.env, [INSIDE]: nodeNetns(n) }, 'nsenter is in the Debian package util-linux');
  } finally {
    process.off('SIGINT', onEarly);
    process.off('SIGTERM', onEarly);
    await closeAll(servers);
    const removed = await removeAll(n);
    rmSync(dir, { recursive: true, force: true });
    releaseLock();
    o.say(`network namespaces removed: ${removed.length > 0 ? removed.join(', ') : 'none were left'}`);
  }
}

/** In the node's namespace: the usual runner, with a sandbox per pod and the manifests carrying clusterIPs. */
async function inside(o: DemoOptions, n: NetnsNames): Promise<number> {
  const placement = netnsPlacement(o.stateDir, o.root);
  const resourcesDir = join(o.stateDir, 'manifests-netns');
  const services = writeManifestsWithClusterIps(o.manifestsDir, resourcesDir);
  // Read before anything listens or watches: a bad workloads folder fails with nothing left open
  // (an open watcher or server would keep this runner, and the host's waiting on it, alive).
  const sandboxes = new PodSandboxes(n, placement, readWorkloads(o.workloadsDir), services, logsDir(o.stateDir));
  const stopWatching = keepCopied(o, resourcesDir);
  const servers: Server[] = [];
  const host = localPlacement(o.stateDir, o.root);
  try {
    for (const f of forwards(o, n)) servers.push(await forwardIntoNamespace(f), await forwardOnNodeLoopback(f));
    return await runDemo({
      ...o,
      pods: {
        placement, resourcesDir, nodeNetns: nodeNetns(n),
        create: (pod) => sandboxes.create(pod),
        remove: (pod) => sandboxes.remove(pod),
        published: { ingressUrl: `http://${host.ingressListen}`, vizAddr: host.vizAddr, dashboardAddr: host.dashboardAddr },
      },
    });
  } finally {
    stopWatching();
    await closeAll(servers);
  }
}

/**
 * The destination serves a copy of the manifests with each Service's clusterIP; an edit of the
 * originals (the lesson's canary weights) is copied again within a moment, so it still takes effect live.
 */
function keepCopied(o: DemoOptions, to: string): () => void {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(o.manifestsDir, () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        writeManifestsWithClusterIps(o.manifestsDir, to);
      } catch (err) {
        o.say(`note: ${(err as Error).message}; the destination keeps the last copy`);
      }
    }, 200);
  });
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
