// Network matching for inbound policy (NetworkAuthentication, ServerAuthorization networks,
// cluster networks), on the mesh's one reading of a CIDR (api/cidr.ts). A peer's IPv4-mapped
// IPv6 address (`::ffff:10.0.0.1`, from a dual-stack listener) is its IPv4 address, as Linkerd
// reads a client's; an IPv6 network never holds an IPv4 peer, nor the reverse.
import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { readCidr } from '../../../api/cidr.ts';

export interface Network {
  readonly text: string;
  contains(ip: string): boolean;
}

function v4Bits(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** An address net.isIPv6 accepts, as 128 bits (an embedded dotted IPv4 tail included). */
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

/** The upper 96 bits of an IPv4-mapped IPv6 address (::ffff:0:0/96). */
const MAPPED_V4 = 0xffffn;

/**
 * A peer's address (what the socket reported) as (family, bits); IPv4-mapped IPv6 counts as
 * IPv4. A zone (`fe80::1%eth0`) is the peer's link, not part of its address.
 */
function peerBits(ip: string): { v4: boolean; bits: bigint } | undefined {
  if (isIPv4(ip)) return { v4: true, bits: v4Bits(ip) };
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return undefined;
  const bits = v6Bits(bare);
  return bits >> 32n === MAPPED_V4 ? { v4: true, bits: bits & 0xffffffffn } : { v4: false, bits };
}

/** A network of a policy; throws CidrError (INVALID_CIDR) for a text that is not a CIDR. */
export function parseNetwork(text: string): Network {
  const cidr = readCidr(text);
  const v4 = cidr.family === 'IPv4';
  const shift = BigInt((v4 ? 32 : 128) - cidr.prefix);
  const base = (v4 ? v4Bits(cidr.address) : v6Bits(cidr.address)) >> shift;
  return {
    text,
    contains(peerIp) {
      const peer = peerBits(peerIp);
      return peer !== undefined && peer.v4 === v4 && peer.bits >> shift === base;
    },
  };
}

/** Told of a network that is not a CIDR: `where` names the authorization (or the cluster networks) it is in. */
export type BadNetworkReport = (where: string, text: string, err: Error) => void;

/** The report as a warning for the operator, once per policy that carries the entry. */
export function warnBadNetworks(logger: Logger): BadNetworkReport {
  return (where, text, err) =>
    logger.warn({ authz: where, network: text }, `inbound policy: ${where}: network ${JSON.stringify(text)} admits no one (the rest of its list still applies): ${err.message}`);
}

/**
 * A policy's networks, each entry that is not a CIDR left out: it admits no one (fail closed for
 * that entry), and `report` hears of it. The destination refuses such an entry in a resource,
 * naming the resource and the value, and the proxy refuses one in --cluster-networks, so only a
 * policy from elsewhere has one.
 */
function compileNetworks(networks: string[], where: string, report?: BadNetworkReport): Network[] {
  const out: Network[] = [];
  for (const n of networks) {
    try {
      out.push(parseNetwork(n));
    } catch (err) {
      report?.(where, n, err as Error);
    }
  }
  return out;
}

/**
 * Per-policy memo: networks arrays are replaced with the policy, never mutated, so each list is
 * compiled (and a bad entry in it reported) once.
 */
export class NetworkCache {
  private readonly compiled = new WeakMap<string[], Network[]>();

  constructor(private readonly report?: BadNetworkReport) {}

  of(networks: string[], where: string): Network[] {
    let compiled = this.compiled.get(networks);
    if (compiled === undefined) {
      compiled = compileNetworks(networks, where, this.report);
      this.compiled.set(networks, compiled);
    }
    return compiled;
  }
}

export function inNetworks(ip: string, networks: string[], cache: NetworkCache, where: string): boolean {
  const compiled = cache.of(networks, where);
  for (let i = 0; i < compiled.length; i++) if (compiled[i]!.contains(ip)) return true;
  return false;
}
