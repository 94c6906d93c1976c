// Turns what an application named (`orders`, `orders.production:8080`,
// `orders.production.svc.cluster.local:8080`, `127.0.10.3:8080`) into a Service or pod target,
// resolving short names against the caller's namespace as Kubernetes DNS search paths would.
import { isIP } from 'node:net';
import { codedError } from '../../api/errors.ts';
import type { ResourceSet } from '../store/resource-set.ts';

export type Target =
  | { kind: 'service'; name: string; namespace: string; port: number }
  | { kind: 'ip'; ip: string; port: number }
  | { kind: 'unknown'; reason: string };

export class AuthorityError extends codedError('BAD_AUTHORITY') {}

/** Splits `host:port` (`[v6]:port` too); the port defaults to 80 as an HTTP client would. */
export function splitAuthority(authority: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/\s]+))(?::(\d{1,5}))?$/.exec(authority.trim());
  if (!m) throw new AuthorityError(`authority ${JSON.stringify(authority)}: must be host[:port]`);
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (port < 1 || port > 65535) throw new AuthorityError(`authority ${JSON.stringify(authority)}: port must be 1-65535`);
  return { host: (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, ''), port };
}

export function resolveAuthority(authority: string, contextNamespace: string, clusterDomain: string): Target {
  const { host, port } = splitAuthority(authority);
  if (isIP(host)) return { kind: 'ip', ip: host, port };
  const labels = host.split('.');
  const domain = clusterDomain.split('.');
  const fqdnTail = ['svc', ...domain];
  // name.ns.svc.<cluster-domain>, name.ns.svc, name.ns, name
  if (labels.length === 2 + fqdnTail.length && labels.slice(2).join('.') === fqdnTail.join('.')) {
    return { kind: 'service', name: labels[0]!, namespace: labels[1]!, port };
  }
  if (labels.length === 3 && labels[2] === 'svc') return { kind: 'service', name: labels[0]!, namespace: labels[1]!, port };
  if (labels.length === 2) return { kind: 'service', name: labels[0]!, namespace: labels[1]!, port };
  if (labels.length === 1) {
    if (!contextNamespace) return { kind: 'unknown', reason: `short name ${host} needs the caller's namespace` };
    return { kind: 'service', name: host, namespace: contextNamespace, port };
  }
  return { kind: 'unknown', reason: `${host} is not a name in the cluster domain ${clusterDomain}` };
}

export function serviceFqdn(name: string, namespace: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}

/**
 * An `ip:port` target that is a Service's clusterIP stands for that Service: the app dialled the
 * Service's virtual address and the proxy, reading SO_ORIGINAL_DST, asks about it. Looked up at
 * each recompute, so a Service that gains or changes its clusterIP is seen. Two Services claiming
 * one address (Kubernetes forbids it): the first by namespace/name wins.
 */
export function viaClusterIp(target: Target, set: ResourceSet): Target {
  if (target.kind !== 'ip') return target;
  const svc = set.ofKind('Service').find((s) => s.clusterIP === target.ip);
  return svc ? { kind: 'service', name: svc.meta.name, namespace: svc.meta.namespace, port: target.port } : target;
}
