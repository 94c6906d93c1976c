// The one reading of a CIDR, for every part that takes one: proxy-init's skipped sources, the
// injector's skip-subnets, the destination's networks and cluster networks, the proxy's policy.
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { codedError } from './errors.ts';

export class CidrError extends codedError('INVALID_CIDR') {}

export type IpFamily = 'IPv4' | 'IPv6';

/** What a CIDR may be, for the error or warning that refuses another. */
export const CIDR_EXPECTED =
  'an IPv4 or IPv6 address or CIDR such as 10.244.0.254/32 or fd00::254/128 (an IPv4 one with no leading zeros: iptables reads 010 as octal 8)';

export interface Cidr {
  family: IpFamily;
  /** The network's address as written, an IPv6 one as Node writes it (RFC 5952: fd00::2). */
  address: string;
  /** 0..32 for IPv4, 0..128 for IPv6; a bare address is one host (32 or 128). */
  prefix: number;
  /** `address/prefix`, always with its prefix length: `10.1.0.0/16`, `fd00::/8`. */
  text: string;
}

/**
 * An address (`a.b.c.d`, or IPv6 with no zone and no brackets) and an optional `/n`, `n` plain
 * decimal digits. Nothing else: no whitespace, no empty prefix (`10.0.0.0/` is not /0), no `1e1` or
 * `0x10`, no octet with a leading zero (iptables reads `010.0.0.1` as 8.0.0.1; net.isIPv4, which
 * refuses it, decides). A prefix's leading zero is dropped (`/08` is written `/8`), so no tool
 * sees it. An IPv4-mapped address (`::ffff:10.0.0.0/104`) is an IPv6 network, as every tool that
 * takes it reads it.
 */
export function readCidr(text: string): Cidr {
  const m = /^([\d.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(?:\/(\d{1,3}))?$/.exec(text);
  const raw = m?.[1] ?? '';
  const family: IpFamily | undefined = isIPv4(raw) ? 'IPv4' : isIPv6(raw) ? 'IPv6' : undefined;
  if (!m || !family) throw new CidrError(`${JSON.stringify(text)} is not ${CIDR_EXPECTED}`);
  const width = family === 'IPv6' ? 128 : 32;
  const prefix = m[2] === undefined ? width : Number(m[2]);
  if (prefix > width) throw new CidrError(`${JSON.stringify(text)}: the prefix length of an ${family} network is 0 to ${width}`);
  const address = family === 'IPv6' ? ipv6Text(raw) : raw;
  return { family, address, prefix, text: `${address}/${prefix}` };
}

/** `readCidr`, or undefined for a text it refuses. */
export function parseCidr(text: string): Cidr | undefined {
  try {
    return readCidr(text);
  } catch {
    return undefined;
  }
}

/** An IPv6 address as Node writes a socket's (RFC 5952: fd00::2), as the rest of the mesh does. */
export function ipv6Text(address: string): string {
  return new SocketAddress({ address, family: 'ipv6' }).address;
}
