// The node's kube-proxy, in its iptables mode: a Service's ClusterIP:port is rewritten (DNAT, in
// the cluster's network namespace) to one of its ready endpoints' address:targetPort, chosen at
// random per connection as kube-proxy does. That is how a pod reaches `identity.mesh-system.svc...`
// (hosts-file.ts names each Service at its ClusterIP) and how the API server reaches the injector
// webhook's Service. The ClusterIP range is routed to loopback; the source of a rewritten
// connection becomes 127.0.0.1 (Linux drops a loopback packet from an address outside 127/8).
import { spawn } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { type KubeApi, reasonOf } from './kube-api.ts';
import type { HostsFile } from './hosts-file.ts';
import { codedError } from '../../../../api/errors.ts';

export class ServiceProxyError extends codedError('SERVICE_PROXY') {}

const CHAIN = 'MESH-SERVICES';
/** In the filter table (REJECT is not a nat target): a Service with no endpoint refuses at once. */
const REJECTS = 'MESH-SERVICES-REJECT';

/** An EndpointSlice as both discovery.k8s.io/v1 and v1beta1 serve it (the fields read here did not change). */
export interface Slice extends k8s.KubernetesObject {
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }>;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
}

const serviceOf = (s: Slice) => `${s.metadata?.namespace}/${s.metadata?.labels?.['kubernetes.io/service-name']}`;

/** The ready addresses:ports of a Service port, over all its slices (a Service may have several). */
export function readyTargets(slices: readonly Slice[], service: string, portName: string): string[] {
  return slices.filter((s) => serviceOf(s) === service).flatMap((s) => {
    const p = (s.ports ?? []).find((x) => (x.name ?? '') === portName);
    if (!p?.port) return [];
    // A ready condition left out means ready (the API's own reading).
    return (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses.map((a) => `${a}:${p.port}`));
  });
}

/** The rules of both chains (built whole on every change): DNAT per endpoint, REJECT per port with none. */
export function serviceRules(services: readonly k8s.V1Service[], slices: readonly Slice[]): { nat: string[]; filter: string[] } {
  const rules: string[] = [];
  const rejects: string[] = [];
  for (const svc of [...services].sort((a, b) => `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`))) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    for (const port of svc.spec?.ports ?? []) {
      if ((port.protocol ?? 'TCP') !== 'TCP') continue;
      // The controller-manager resolved targetPort (a number or a container port's name) in each slice.
      const targets = readyTargets(slices, `${svc.metadata?.namespace}/${svc.metadata?.name}`, port.name ?? '');
      const match = `-d ${ip}/32 -p tcp --dport ${port.port}`;
      if (targets.length === 0) {
        rejects.push(`-A ${REJECTS} ${match} -j REJECT --reject-with tcp-reset`);
        continue;
      }
      // kube-proxy's spread: rule i takes 1/(n-i) of what reaches it, so each endpoint gets 1/n.
      targets.forEach((t, i) => {
        const left = targets.length - i;
        const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(5)}` : '';
        rules.push(`-A ${CHAIN} ${match}${pick} -j DNAT --to-destination ${t}`);
      });
    }
  }
  return { nat: rules, filter: rejects };
}

export class ServiceProxy {
  private services?: k8s.ListWatch<k8s.V1Service>;
  private slices?: k8s.ListWatch<Slice>;
  private stopped = false;
  private last = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly api: KubeApi,
    private readonly serviceCidr: string,
    private readonly hosts: HostsFile,
    private readonly say: (line: string) => void,
  ) {}

  async start(): Promise<void> {
    // Route the ClusterIP range to loopback and let loopback carry rewritten packets.
    await run('ip', ['route', 'replace', this.serviceCidr, 'dev', 'lo']);
    await run('sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1', 'net.ipv4.conf.lo.route_localnet=1']);
    await run('iptables', ['-t', 'nat', '-N', CHAIN]).catch(() => {}); // there already after a restart
    await run('iptables', ['-t', 'filter', '-N', REJECTS]).catch(() => {});
    await ensureRule('nat', 'OUTPUT', ['-j', CHAIN]);
    await ensureRule('filter', 'OUTPUT', ['-j', REJECTS]);
    await ensureRule('nat', 'POSTROUTING', ['-m', 'conntrack', '--ctstate', 'DNAT', '--ctorigdst', this.serviceCidr, '-j', 'SNAT', '--to-source', '127.0.0.1']);
    const watch = <T extends k8s.KubernetesObject>(path: string, list: () => Promise<k8s.KubernetesListObject<T>>) => {
      const w = new k8s.ListWatch<T>(path, new k8s.Watch(this.api.kc), list, false);
      w.on('change', () => this.sync());
      w.on('error', (err) => {
        if (this.stopped) return;
        this.say(`node: ${path} watch failed (${reasonOf(err)}); watching again in 1 s`);
        setTimeout(() => void w.start().then(() => this.sync()).catch(() => {}), 1000).unref();
      });
      return w;
    };
    this.services = watch('/api/v1/services', () => this.api.core.listServiceForAllNamespaces());
    // EndpointSlices, not Endpoints: v1 Endpoints refuse loopback addresses, and pods here have them.
    // discovery.k8s.io/v1 where the server has it, v1beta1 on 1.20.
    const version = await sliceVersion(this.api);
    this.slices = watch(`/apis/${version}/endpointslices`, () => this.api.objects.list(version, 'EndpointSlice') as Promise<k8s.KubernetesListObject<Slice>>);
    await Promise.all([this.services.start(), this.slices.start()]);
    this.sync();
    await this.writing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.services?.stop();
    await this.slices?.stop();
    await this.writing;
  }

  private sync(): void {
    if (!this.services || !this.slices || this.stopped) return;
    this.hosts.write(this.services.list(), this.slices.list());
    const rules = serviceRules(this.services.list(), this.slices.list());
    const text = ['*nat', `:${CHAIN} - [0:0]`, ...rules.nat, 'COMMIT', '*filter', `:${REJECTS} - [0:0]`, ...rules.filter, 'COMMIT', ''].join('\n');
    if (text === this.last) return;
    this.last = text;
    // One restore at a time, in order; declaring the chain flushes it, so each write is the whole state.
    this.writing = this.writing.then(() => restore(text, ['--noflush']).catch((err) => this.say(`node: service rules not written: ${(err as Error).message}`)));
  }
}

async function sliceVersion(api: KubeApi): Promise<string> {
  try {
    await api.objects.list('discovery.k8s.io/v1', 'EndpointSlice', undefined, undefined, undefined, undefined, undefined, undefined, 1);
    return 'discovery.k8s.io/v1';
  } catch {
    return 'discovery.k8s.io/v1beta1';
  }
}

function restore(text: string, flags: string[]): Promise<void> {
  return run('iptables-restore', flags, text);
}

/** Appends a nat rule unless it is there (a node started again finds its rules). */
async function ensureRule(table: string, chain: string, rule: string[]): Promise<void> {
  try {
    await run('iptables', ['-t', table, '-C', chain, ...rule]);
  } catch {
    await run('iptables', ['-t', table, '-A', chain, ...rule]);
  }
}

function run(cmd: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    if (input !== undefined) child.stdin!.end(input);
    child.on('error', (e) => reject(new ServiceProxyError(`${cmd}: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new ServiceProxyError(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim()}`))));
  });
}
