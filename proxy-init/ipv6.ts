// The pod's IPv6 addresses that other hosts can reach, read from /proc/net/if_inet6: without
// --ipv6, proxy-init writes IPv4 (iptables) rules only, so traffic over these goes around the proxy.
import { readFileSync } from 'node:fs';
import { ipv6Text } from '../api/cidr.ts';

export interface Ipv6Address {
  address: string;
  device: string;
}

/** Scopes of /proc/net/if_inet6 (the kernel's IPV6_ADDR_SCOPE_*): global and site-local leave the host. */
const ROUTABLE_SCOPES = new Set(['00', '40']);

/**
 * Global and site-local IPv6 addresses of this network namespace, from /proc/net/if_inet6 (no
 * file: IPv6 is off, so none). Link-local and loopback addresses are left out: nothing outside
 * the pod's link reaches the app through them.
 */
export function routableIpv6Addresses(): Ipv6Address[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/if_inet6', 'utf8');
  } catch {
    return [];
  }
  const out: Ipv6Address[] = [];
  for (const line of table.split('\n')) {
    // address (32 hex digits), interface index, prefix length, scope, flags, device name.
    const [hex, , , scope, , device] = line.trim().split(/\s+/);
    if (!hex || !/^[0-9a-f]{32}$/i.test(hex) || !scope || !ROUTABLE_SCOPES.has(scope) || !device) continue;
    out.push({ address: ipv6Text(hex.match(/.{4}/g)!.join(':')), device });
  }
  return out;
}

