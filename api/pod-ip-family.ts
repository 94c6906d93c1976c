// The address families of a cluster's pods, written as Kubernetes writes a Service's
// `spec.ipFamilies`: one family, or both (dual-stack) with the primary first. The primary is the
// family of `status.podIP`, what `$(POD_IP)` becomes; a dual-stack pod's `status.podIPs` holds both.
// In api/ because two sides read `status.podIPs`: the injector (a cluster's families, from its own
// pod) and the proxy (`--pod-ips`, its pod's addresses), and they must agree on what a list may be.
import { isIPv4, isIPv6 } from 'node:net';

export const POD_IP_FAMILIES = ['IPv4', 'IPv6', 'IPv4,IPv6', 'IPv6,IPv4'] as const;
export type PodIpFamily = (typeof POD_IP_FAMILIES)[number];

/** What a pod IP family may be, for the error that refuses another. */
export const POD_IP_FAMILY_EXPECTED = 'IPv4, IPv6, IPv4,IPv6 (dual-stack, IPv4 primary) or IPv6,IPv4 (dual-stack, IPv6 primary)';

/** `text` as a family, exactly as written in POD_IP_FAMILIES; undefined if it is none of them. */
export function parsePodIpFamily(text: string): PodIpFamily | undefined {
  return POD_IP_FAMILIES.find((family) => family === text);
}

/** The family of `status.podIP`: the only one, or the primary, written first. */
export function primaryFamily(family: PodIpFamily): 'IPv4' | 'IPv6' {
  return family.startsWith('IPv6') ? 'IPv6' : 'IPv4';
}

/** The pods have an IPv6 address (only, or beside an IPv4 one): IPv4 rules alone would let its traffic around the proxy. */
export function hasIpv6(family: PodIpFamily): boolean {
  return family.includes('IPv6');
}

/** The pods have an address of each family. */
export function isDualStack(family: PodIpFamily): boolean {
  return family.includes(',');
}

/**
 * The family of a pod's addresses as `status.podIPs` lists them, primary first: `10.0.0.7,fd00::7`
 * is `IPv4,IPv6`. Undefined unless they are one address, or two of different families.
 */
export function podIpFamilyOf(addresses: readonly string[]): PodIpFamily | undefined {
  return parsePodIpFamily(addresses.map((a) => (isIPv4(a) ? 'IPv4' : isIPv6(a) ? 'IPv6' : `not an IP: ${a}`)).join(','));
}
