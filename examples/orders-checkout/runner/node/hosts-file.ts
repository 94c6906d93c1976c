// The node's /etc/hosts for its pods (there is no DNS server here): `localhost`, and each
// Service's DNS names (`name.ns.svc.cluster.local`, `name.ns.svc`, `name.ns`) at its ClusterIP,
// which service-proxy.ts forwards to a ready endpoint; a headless Service's names go to its
// ready endpoints' addresses directly. Every container has this one file bind-mounted at /etc/hosts.
import { writeFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { readyTargets, type Slice } from './service-proxy.ts';
import { splitHostPort } from '../../../../api/host-port.ts';

export function hostsText(services: readonly k8s.V1Service[], slices: readonly Slice[]): string {
  const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
  for (const svc of [...services].sort((a, b) => `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`))) {
    const { name, namespace } = svc.metadata ?? {};
    if (!name || !namespace) continue;
    const names = `${name}.${namespace}.svc.cluster.local ${name}.${namespace}.svc ${name}.${namespace}`;
    const ip = svc.spec?.clusterIP;
    if (ip && ip !== 'None') lines.push(`${ip} ${names}`);
    else for (const a of new Set(readyTargets(slices, `${namespace}/${name}`, svc.spec?.ports?.[0]?.name ?? '').map((t) => splitHostPort(t, `endpoint of ${namespace}/${name}`).host))) lines.push(`${a} ${names}`);
  }
  return `${lines.join('\n')}\n`;
}

export class HostsFile {
  private last = '';

  constructor(readonly file: string) {
    this.write([], []);
  }

  write(services: readonly k8s.V1Service[], slices: readonly Slice[]): void {
    const text = hostsText(services, slices);
    if (text === this.last) return;
    this.last = text;
    // In place, never renamed over: a bind mount holds the file itself, so a new file would go unseen.
    writeFileSync(this.file, text);
  }
}
