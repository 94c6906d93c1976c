// An address or CIDR of either family, in the one spelling its tool (iptables or ip6tables) reads
// as written: the sources proxy-init skips, whether given as a flag or as an annotation.
import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Text } from './ipv6.ts';
import type { IpFamily } from './rules.ts';

/** What a CIDR may be, for the error or warning that refuses another. */
export const CIDR_EXPECTED = 'an IPv4 or IPv6 address or CIDR such as 10.244.0.254/32 or fd00::254/128 (an IPv4 one with no leading zeros: iptables reads 010 as octal 8)';

export interface Cidr {
  family: IpFamily;
  /** As the tool is given it: `10.1.0.0/16`, `fd00::/8` (always with its prefix length). */
  cidr: string;
}

/**
 * `a.b.c.d[/n]` or an IPv6 address with an optional `/n` (no zone); undefined for anything else.
 * iptables takes a leading 0 as octal (010.0.0.1 is 8.0.0.1), so net.isIPv4, which refuses
 * leading zeros, decides; an IPv6 address is written as Node writes one (RFC 5952).
 */
export function parseCidr(value: string): Cidr | undefined {
  const m = /^([\d.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(?:\/(\d{1,3}))?$/.exec(value.trim());
  const address = m?.[1] ?? '';
  const family = isIPv4(address) ? 'IPv4' : isIPv6(address) ? 'IPv6' : undefined;
  if (!family) return undefined;
  const width = family === 'IPv6' ? 128 : 32;
  const prefix = Number(m?.[2] ?? width);
  if (prefix > width) return undefined;
  return { family, cidr: `${family === 'IPv6' ? ipv6Text(address) : address}/${prefix}` };
}
