// The address families of a cluster's pods, written as Kubernetes writes a Service's
// `spec.ipFamilies`: one family, or both (dual-stack) with the primary first. The primary is the
// family of `status.podIP`, what `$(POD_IP)` becomes; a dual-stack pod's `status.podIPs` holds both.

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
