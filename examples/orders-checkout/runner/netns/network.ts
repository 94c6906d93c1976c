// The `--netns` demo's network, made with `ip`: a node namespace holding a bridge (no link to the
// host, so nothing can leave), and per pod a namespace with a veth onto that bridge, its pod IP, a
// default route via the node, and a hosts file naming each Service's clusterIP. Everything it makes
// carries the run's name prefix, so removing a run (on stop, or a crashed run's leftovers at the next
// start) is: kill what runs in those namespaces, delete them, delete their /etc/netns folders.
import { execFile } from 'node:child_process';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { codedError } from '../../../../api/errors.ts';
import { netnsPodCidr } from '../topology.ts';

const run = promisify(execFile);

export class NetnsError extends codedError('NETNS') {}

/** The bridge in the node's namespace: the pods' switch, and the node's (the control plane's) address on it. */
export const BRIDGE = 'mesh0';

/** Names of one run: the node's namespace is `prefix`, a pod's `prefix-<pod>`. */
export interface NetnsNames {
  prefix: string;
}
export const nodeNetns = (n: NetnsNames) => n.prefix;
export const podNetns = (n: NetnsNames, pod: string) => `${n.prefix}-${pod}`;
/** Where `ip netns exec` finds files to lay over /etc for that namespace (iproute2's convention). */
const etcDir = (netns: string) => join('/etc/netns', netns);

/** Runs `ip ARGS`; an error names the command and what ip said. */
export async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { encoding: 'utf8' })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new NetnsError(`ip ${args.join(' ')}: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** The node's namespace: loopback, and the bridge with the node's address. No route leads out of it. */
export async function createNode(n: NetnsNames): Promise<void> {
  const ns = nodeNetns(n);
  await ip(['netns', 'add', ns]);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  await ip(['-n', ns, 'link', 'add', BRIDGE, 'type', 'bridge']);
  await ip(['-n', ns, 'addr', 'add', `${netnsPodCidr.node}/${netnsPodCidr.prefix}`, 'dev', BRIDGE]);
  await ip(['-n', ns, 'link', 'set', BRIDGE, 'up']);
}

/**
 * A pod's namespace (the CNI bridge plugin's work): a veth pair whose pod end is `eth0` with the
 * pod's IP, whose node end (`vp<N>`, unique per pod number) joins the bridge; a default route via
 * the node, so a clusterIP (on no interface) is routable and proxy-init's rules can redirect it;
 * and `hosts`, laid over /etc/hosts (with a resolv.conf naming no server) for every process
 * `ip netns exec` starts there.
 */
export async function createPod(n: NetnsNames, pod: { name: string; ip: string }, hosts: string): Promise<string> {
  const ns = podNetns(n, pod.name);
  const node = nodeNetns(n);
  const hostEnd = `vp${pod.ip.split('.').at(-1)}`;
  mkdirSync(etcDir(ns), { recursive: true });
  writeFileSync(join(etcDir(ns), 'hosts'), hosts);
  // No DNS server here: a name missing from the hosts file fails at once (the resolver's default,
  // 127.0.0.1, refuses) instead of timing out on the host's server, which no packet can reach.
  writeFileSync(join(etcDir(ns), 'resolv.conf'), '# the --netns demo has no DNS server: Services are in /etc/hosts\noptions timeout:1 attempts:1\n');
  await ip(['netns', 'add', ns]);
  await ip(['-n', node, 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await ip(['-n', node, 'link', 'set', hostEnd, 'master', BRIDGE, 'up']);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  await ip(['-n', ns, 'addr', 'add', `${pod.ip}/${netnsPodCidr.prefix}`, 'dev', 'eth0']);
  await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', ns, 'route', 'add', 'default', 'via', netnsPodCidr.node]);
  return ns;
}

/** Deletes one namespace: whatever still runs in it is killed first (a namespace lives while a process holds it). */
export async function removeNetns(ns: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', ns]).catch(() => '')).split('\n').map(Number).filter((p) => p > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await ip(['netns', 'del', ns]).catch(() => undefined);
  rmSync(etcDir(ns), { recursive: true, force: true });
}

/** The run's namespaces that exist now: the node's and every pod's. */
export async function listOwn(n: NetnsNames): Promise<string[]> {
  const names = (await ip(['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  return names.filter((x) => x === n.prefix || x.startsWith(`${n.prefix}-`));
}

/** Removes everything of the run: pods' namespaces first, then the node's (its bridge and veth ends go with it). */
export async function removeAll(n: NetnsNames): Promise<string[]> {
  const own = await listOwn(n);
  const pods = own.filter((x) => x !== nodeNetns(n));
  for (const ns of pods) await removeNetns(ns);
  if (own.includes(nodeNetns(n))) await removeNetns(nodeNetns(n));
  // iproute2's folder, made for our hosts files: gone again unless something else keeps files there.
  try {
    rmdirSync('/etc/netns');
  } catch {
    // Not empty (another run's, or the machine's own), or not there.
  }
  return own;
}

/** `/etc/hosts` of every pod: localhost, and each Service's DNS name at its clusterIP (there is no DNS server). */
export function hostsFile(pod: { name: string; ip: string }, services: Array<{ host: string; name: string; namespace: string; clusterIP: string }>): string {
  return [
    '127.0.0.1 localhost',
    `${pod.ip} ${pod.name}`,
    ...services.map((s) => `${s.clusterIP} ${s.host} ${s.name}.${s.namespace}.svc ${s.name}.${s.namespace}`),
    '',
  ].join('\n');
}
