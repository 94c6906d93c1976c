// CIDR matching for IPv4 and IPv6 (IPv4-mapped IPv6 peers match IPv4 networks), used by
// NetworkAuthentication, ServerAuthorization networks and cluster networks.
import { isIPv4, isIPv6 } from 'node:net';
import { codedError } from '../../../api/errors.ts';

export class CidrError extends codedError('INVALID_CIDR') {}

export interface Cidr {
  readonly text: string;
  contains(ip: string): boolean;
}

function v4Bits(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6Bits(ip: string): bigint {
  let text = ip;
  const embedded = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (embedded) {
    const v4 = v4Bits(embedded[1]!);
    text = `${text.slice(0, -embedded[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g || '0', 16)), 0n);
}

/** The address as (family, 128- or 32-bit number); `::ffff:a.b.c.d` counts as IPv4. */
function parseIp(raw: string): { v4: boolean; bits: bigint } | undefined {
  const ip = raw.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return { v4: true, bits: v4Bits(mapped[1]!) };
  if (isIPv4(ip)) return { v4: true, bits: v4Bits(ip) };
  if (isIPv6(ip)) return { v4: false, bits: v6Bits(ip) };
  return undefined;
}

export function parseCidr(text: string): Cidr {
  const [addr, prefixText] = text.trim().split('/');
  const ip = addr ? parseIp(addr) : undefined;
  if (!ip) throw new CidrError(`network ${JSON.stringify(text)}: not an IP address or CIDR`);
  const width = ip.v4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) {
    throw new CidrError(`network ${JSON.stringify(text)}: prefix length must be 0..${width}`);
  }
  const shift = BigInt(width - prefix);
  const base = ip.bits >> shift;
  return {
    text,
    contains(peerIp) {
      const peer = parseIp(peerIp);
      return peer !== undefined && peer.v4 === ip.v4 && peer.bits >> shift === base;
    },
  };
}

/** Parses a list of networks, skipping bad entries (a bad network admits no one; destination reports it). */
export function compileNetworks(networks: string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const n of networks) {
    try {
      out.push(parseCidr(n));
    } catch {
      // skipped: fail closed for that entry
    }
  }
  return out;
}

/** Per-policy memo: networks arrays are replaced with the policy, never mutated. */
export type NetworkCache = WeakMap<string[], Cidr[]>;

export function inNetworks(ip: string, networks: string[], cache?: NetworkCache): boolean {
  let cidrs = cache?.get(networks);
  if (!cidrs) {
    cidrs = compileNetworks(networks);
    cache?.set(networks, cidrs);
  }
  return cidrs.some((c) => c.contains(ip));
}
