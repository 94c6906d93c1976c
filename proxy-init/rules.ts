// The iptables rules of transparent interception, as linkerd2-proxy-init writes them: two chains
// of the nat table, PROXY_INIT_REDIRECT (inbound, from PREROUTING) and PROXY_INIT_OUTPUT (outbound,
// from OUTPUT), as iptables-restore text. Pure: building them touches nothing.
import { isIPv4 } from 'node:net';
import { CodedError } from '../api/errors.ts';
import { portList } from '../injector/annotations.ts';

export const REDIRECT_CHAIN = 'PROXY_INIT_REDIRECT';
export const OUTPUT_CHAIN = 'PROXY_INIT_OUTPUT';
/** Every rule carries a comment starting so: how install and remove recognise their own lines. */
export const COMMENT_PREFIX = 'proxy-init/';

/** A value of the interception's settings was wrong; the message names the setting. */
export class InterceptConfigError extends CodedError<'INTERCEPT_CONFIG'> {
  override readonly name = 'InterceptConfigError';
  constructor(message: string) {
    super('INTERCEPT_CONFIG', message);
  }
}

export interface InterceptOptions {
  /** The proxy's inbound port: where inbound TCP to the pod goes (4143). */
  inboundPort: number;
  /** The proxy's outbound port: where the app's outbound TCP goes (4140). */
  outboundPort: number;
  /** The UID the proxy runs as: its own connections are never redirected (they would loop). */
  proxyUid: number;
  /** Inbound ports that reach the app directly: the proxy's admin and tap ports, and skip-inbound-ports. */
  skipInboundPorts: string;
  /** Outbound ports the app reaches directly (skip-outbound-ports). */
  skipOutboundPorts: string;
  /** The control plane's `ip:port`s: reached directly by anything in the pod. */
  controlPlane: string[];
  /**
   * Sources whose inbound connections reach the app directly (IPv4 CIDRs): the node's own address,
   * where the kubelet probes from. Probes go straight to the container (docs/DESIGN.md), and a gRPC
   * probe of a port whose policy admits only one identity would otherwise be refused by the proxy.
   */
  skipInboundFrom?: string[];
}

/** Linkerd's: admin 4191 and tap 4190 are not the app's, so never sent to the inbound port. */
export const DEFAULT_SKIP_INBOUND = '4190,4191';
/** Linkerd's proxy UID: the proxy runs as this user, so its own dials are told from the app's. */
export const DEFAULT_PROXY_UID = 2102;

/** The rule lines (iptables-restore syntax, without the table header and COMMIT). */
export interface RuleSet {
  chains: string[];
  rules: string[];
  /** The jumps from the built-in chains into ours: added once, whatever runs again. */
  jumps: string[];
}

/** The address family a rule set is for: iptables (IPv4) or ip6tables (IPv6). */
export type IpFamily = 'IPv4' | 'IPv6';

/**
 * The rules for `options`; throws InterceptConfigError naming the bad setting. `IPv6`: the same
 * rules for ip6tables, less the IPv4 sources and control-plane addresses (no IPv6 packet matches
 * them; they are still checked, so both families refuse the same settings).
 */
export function buildRules(options: InterceptOptions, family: IpFamily = 'IPv4'): RuleSet {
  const v4 = family === 'IPv4';
  const port = (value: number, name: string) => {
    if (!Number.isInteger(value) || value < 1 || value > 65535) throw new InterceptConfigError(`${name} must be a port (1-65535), got ${value}`);
    return value;
  };
  const inbound = port(options.inboundPort, 'inbound port');
  const outbound = port(options.outboundPort, 'outbound port');
  if (!Number.isInteger(options.proxyUid) || options.proxyUid < 0) {
    throw new InterceptConfigError(`proxy UID must be a non-negative integer, got ${options.proxyUid}`);
  }
  const comment = (what: string) => `-m comment --comment "${COMMENT_PREFIX}${what}"`;
  const rules: string[] = [];

  for (const cidr of options.skipInboundFrom ?? []) {
    const source = ipv4Cidr(cidr);
    if (v4) rules.push(`-A ${REDIRECT_CHAIN} -s ${source} -p tcp -j RETURN ${comment('ignore-inbound-sources')}`);
  }
  for (const ports of multiportChunks(options.skipInboundPorts, 'skip-inbound-ports')) {
    rules.push(`-A ${REDIRECT_CHAIN} -p tcp -m multiport --dports ${ports} -j RETURN ${comment('ignore-inbound-ports')}`);
  }
  rules.push(`-A ${REDIRECT_CHAIN} -p tcp -j REDIRECT --to-ports ${inbound} ${comment('redirect-all-incoming-to-proxy-port')}`);

  // Order matters: the proxy's own connections first, or its dials would come back to it.
  rules.push(`-A ${OUTPUT_CHAIN} -m owner --uid-owner ${options.proxyUid} -j RETURN ${comment('ignore-proxy-user-id')}`);
  // Loopback: the app talking to itself, and the proxy handing inbound requests to the app.
  rules.push(`-A ${OUTPUT_CHAIN} -o lo -j RETURN ${comment('ignore-loopback')}`);
  for (const target of options.controlPlane) {
    const { ip, port: cpPort } = ipPort(target);
    if (v4) rules.push(`-A ${OUTPUT_CHAIN} -d ${ip}/32 -p tcp --dport ${cpPort} -j RETURN ${comment('ignore-control-plane')}`);
  }
  for (const ports of multiportChunks(options.skipOutboundPorts, 'skip-outbound-ports')) {
    rules.push(`-A ${OUTPUT_CHAIN} -p tcp -m multiport --dports ${ports} -j RETURN ${comment('ignore-outbound-ports')}`);
  }
  rules.push(`-A ${OUTPUT_CHAIN} -p tcp -j REDIRECT --to-ports ${outbound} ${comment('redirect-all-outgoing-to-proxy-port')}`);

  return {
    chains: [REDIRECT_CHAIN, OUTPUT_CHAIN],
    rules,
    jumps: [
      `-A PREROUTING -j ${REDIRECT_CHAIN} ${comment('install-proxy-init-prerouting')}`,
      `-A OUTPUT -j ${OUTPUT_CHAIN} ${comment('install-proxy-init-output')}`,
    ],
  };
}

/** The whole rule set as one iptables-restore input (what --dry-run prints). */
export function restoreText(set: RuleSet, jumps = set.jumps): string {
  return ['*nat', ...set.chains.map((c) => `:${c} - [0:0]`), ...set.rules, ...jumps, 'COMMIT', ''].join('\n');
}

/**
 * `25,587,4000-4100` -> multiport arguments (`25,587,4000:4100`), split so that no rule names more
 * than 15 ports (a range counts twice): the multiport match's own limit.
 */
export function multiportChunks(list: string, setting: string): string[] {
  if (list.trim() === '') return [];
  const normal = portList(list); // the injector's parser of these annotations: one grammar
  if (normal === undefined) throw new InterceptConfigError(`${setting}: "${list}" is not a comma-separated list of ports or ranges such as 25,587,4000-4100`);
  const chunks: string[] = [];
  let current: string[] = [];
  let slots = 0;
  for (const entry of normal.split(',')) {
    const cost = entry.includes('-') ? 2 : 1;
    if (slots + cost > 15) {
      chunks.push(current.join(','));
      [current, slots] = [[], 0];
    }
    current.push(entry.replace('-', ':'));
    slots += cost;
  }
  chunks.push(current.join(','));
  return chunks;
}

/**
 * `a.b.c.d[/n]` in the one spelling iptables reads as written: it takes a leading 0 as octal
 * (010.0.0.1 is 8.0.0.1), so net.isIPv4, which refuses leading zeros, decides.
 */
function ipv4Cidr(value: string): string {
  const m = /^([\d.]+)(?:\/(\d{1,2}))?$/.exec(value.trim());
  const prefix = Number(m?.[2] ?? 32);
  if (!m || !isIPv4(m[1]!) || prefix > 32) {
    throw new InterceptConfigError(`skip-inbound-from: "${value}" is not an IPv4 address or CIDR such as 10.244.0.254/32`);
  }
  return `${m[1]}/${prefix}`;
}

/** `a.b.c.d:port`, the address in the one spelling iptables reads as written (no leading zeros: see ipv4Cidr). */
function ipPort(target: string): { ip: string; port: number } {
  const m = /^([\d.]+):(\d{1,5})$/.exec(target.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    throw new InterceptConfigError(`control plane address "${target}" is not IPv4:port (resolve names first)`);
  }
  if (!isIPv4(m[1]!)) {
    throw new InterceptConfigError(`control plane address "${target}": "${m[1]}" is not an IPv4 address as iptables would read it (four numbers 0-255, no leading zeros: iptables reads 010 as octal 8)`);
  }
  return { ip: m[1]!, port };
}
