// A pod's sandbox in `--netns` mode, as the kubelet and its CNI plugin make one: the pod's network
// namespace on the bridge (network.ts), then the init step `mesh proxy-init` inside it (iptables:
// the app's TCP through its proxy), and the commands of its containers, which start there: the
// sidecar as UID 2102 (proxy-init exempts that user's dials), the app as root with no proxy variable.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceAddress } from '../cluster-ips.ts';
import { proxyInitCommand } from '../mesh-commands.ts';
import type { Workload } from '../deployments.ts';
import { netnsPodCidr, type IngressPlan, type Placement, type PodPlan, type ProcessSpec } from '../topology.ts';
import { DEFAULT_PROXY_UID } from '../../../../proxy-init/rules.ts';
import { createPod, hostsFile, NetnsError, podNetns, removeNetns, type NetnsNames } from './network.ts';

/**
 * How the proxy runs as its own user: its UID and GID 2102, no other group, and one capability,
 * to read files whatever their modes (the checkout, the tokens): an image's files are readable to
 * its user, this checkout's may sit under a folder only root may enter.
 */
export const proxyUser = ['setpriv', `--reuid=${DEFAULT_PROXY_UID}`, `--regid=${DEFAULT_PROXY_UID}`, '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search'];

/**
 * How an app runs: root as in most images, but without NET_ADMIN and SYS_ADMIN (dropped from its
 * bounding set), as a container without those capabilities: it cannot undo its pod's iptables
 * rules nor enter another namespace.
 */
export const appCapabilities = ['setpriv', '--bounding-set=-net_admin,-sys_admin', '--inh-caps=-net_admin,-sys_admin'];

export class PodSandboxes {
  constructor(
    private readonly names: NetnsNames,
    private readonly placement: Placement,
    private readonly workloads: Workload[],
    private readonly services: ServiceAddress[],
    private readonly logsDir: string,
  ) {}

  /** Makes the pod's namespace and, for a meshed pod with an app, runs proxy-init there; returns its specs to start. */
  async create(pod: PodPlan | IngressPlan): Promise<ProcessSpec[]> {
    const ns = await createPod(this.names, pod, hostsFile(pod, this.services));
    if ('proxy' in pod) return [this.inPod(ns, pod.proxy, true)];
    if (pod.sidecar) await this.proxyInit(ns, pod);
    return pod.sidecar ? [this.inPod(ns, pod.sidecar, true), this.inPod(ns, pod.app, false)] : [this.inPod(ns, pod.app, false)];
  }

  /** Deletes the pod's namespace once its containers have stopped. */
  async remove(podName: string): Promise<void> {
    await removeNetns(podNetns(this.names, podName));
  }

  /** `ip netns exec` enters the namespace and lays its hosts file over /etc/hosts; a proxy then drops to its user. */
  private inPod(ns: string, spec: ProcessSpec, proxy: boolean): ProcessSpec {
    const [cmd, ...args] = spec.command;
    const argv = [cmd === 'node' ? process.execPath : cmd!, ...args];
    return { ...spec, command: ['ip', 'netns', 'exec', ns, ...(proxy ? proxyUser : appCapabilities), ...argv] };
  }

  /** Linkerd's init container: the rules go in before any container starts; its output is the pod's `<pod>-proxy-init.log`. */
  private async proxyInit(ns: string, pod: PodPlan): Promise<void> {
    const p = this.placement;
    const w = this.workloads.find((x) => x.name === pod.workload);
    const [, ...args] = proxyInitCommand(`${p.identityAddr},${p.destinationAddr}`, w, `${netnsPodCidr.node}/32`);
    const log = join(this.logsDir, `${pod.name}-proxy-init.log`);
    const out = openSync(log, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { cwd: p.root, stdio: ['ignore', out, out] });
    closeSync(out);
    const code = await new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(-1));
      child.on('close', (c) => resolve(c));
    });
    if (code !== 0) throw new NetnsError(`proxy-init in ${ns} (pod ${pod.name}) failed with code ${code}; its log: ${log}`);
  }
}
