// The iptables rules of transparent interception, as linkerd2-proxy-init writes them: two chains
// of the nat table, PROXY_INIT_REDIRECT (inbound, from PREROUTING) and PROXY_INIT_OUTPUT (outbound,
// from OUTPUT), as iptables-restore text. Pure: building them touches nothing.
import { isIPv4, isIPv6 } from 'node:net';
import { CodedError } from '../api/errors.ts';
import { portList } from '../injector/annotations.ts';
import { CIDR_EXPECTED, ipv6Text, parseCidr, type Cidr, type IpFamily } from '../api/cidr.ts';

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
  /** The control plane's `ip:port`s (`[ip]:port` for IPv6): reached directly by anything in the pod. */
  controlPlane: string[];
  /**
   * Sources whose inbound connections reach the app directly (IPv4 or IPv6 CIDRs): the node's own
   * address, where the kubelet probes from. Probes go straight to the container (docs/DESIGN.md),
   * and a gRPC probe of a port whose policy admits only one identity would otherwise be refused by the proxy.
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

/** The binaries a family's rules are written with, to name them in messages. */
const TOOL: Record<IpFamily, string> = { IPv4: 'iptables', IPv6: 'ip6tables' };

/**
 * The rule set of each family in `families`, all built (and so all checked) before any is used.
 * Each address goes to the rules of its own family, never to the other's; an address of a family
 * that gets no rules is refused (InterceptConfigError), since no rule would skip it: an IPv6
 * source without `--ipv6` would be a setting that silently means nothing.
 */
export function buildRuleSets(options: InterceptOptions, families: readonly IpFamily[]): Array<{ family: IpFamily; set: RuleSet }> {
  const named = [
    ...(options.skipInboundFrom ?? []).map((value) => ({ setting: 'skip-inbound-from', value, family: sourceCidr(value).family })),
    ...options.controlPlane.map((value) => ({ setting: 'control plane address', value, family: parseIpPort(value).family })),
  ];
  const stray = named.find((n) => !families.includes(n.family));
  if (stray) {
    throw new InterceptConfigError(`${stray.setting} "${stray.value}" is an ${stray.family} address, but no ${TOOL[stray.family]} rules are written (${stray.family === 'IPv6' ? 'add --ipv6' : 'IPv4 rules are always written'})`);
  }
  return families.map((family) => ({ family, set: buildRules(options, family) }));
}

/**
 * The rules of one family for `options`; throws InterceptConfigError naming the bad setting. Both
 * families have the same rules, each with the sources and control-plane addresses of its own
 * family only (an IPv4 address means nothing to ip6tables, which refuses it, and the reverse).
 * Every address is checked whatever the family, so both refuse the same settings.
 */
export function buildRules(options: InterceptOptions, family: IpFamily = 'IPv4'): RuleSet {
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

  for (const value of options.skipInboundFrom ?? []) {
    const source = sourceCidr(value);
    if (source.family === family) rules.push(`-A ${REDIRECT_CHAIN} -s ${source.text} -p tcp -j RETURN ${comment('ignore-inbound-sources')}`);
  }
  for (const ports of multiportChunks(options.skipInboundPorts, 'skip-inbound-ports')) {
    rules.push(`-A ${REDIRECT_CHAIN} -p tcp -m multiport --dports ${ports} -j RETURN ${comment('ignore-inbound-ports')}`);
  }
  rules.push(`-A ${REDIRECT_CHAIN} -p tcp -j REDIRECT --to-ports ${inbound} ${comment('redirect-all-incoming-to-proxy-port')}`);

  // Order matters: the proxy's own connections first, or its dials would come back to it.
  rules.push(`-A ${OUTPUT_CHAIN} -m owner --uid-owner ${options.proxyUid} -j RETURN ${comment('ignore-proxy-user-id')}`);
  // Loopback: the app talking to itself, and the proxy handing inbound requests to the app.
  rules.push(`-A ${OUTPUT_CHAIN} -o lo -j RETURN ${comment('ignore-loopback')}`);
  for (const value of options.controlPlane) {
    const target = parseIpPort(value);
    const host = target.family === 'IPv4' ? `${target.ip}/32` : `${target.ip}/128`;
    if (target.family === family) rules.push(`-A ${OUTPUT_CHAIN} -d ${host} -p tcp --dport ${target.port} -j RETURN ${comment('ignore-control-plane')}`);
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

/** A source of --skip-inbound-from as its family's tool reads it; throws InterceptConfigError naming it. */
function sourceCidr(value: string): Cidr {
  const cidr = parseCidr(value.trim());
  if (!cidr) throw new InterceptConfigError(`skip-inbound-from: "${value}" is not ${CIDR_EXPECTED}`);
  return cidr;
}

/**
 * `a.b.c.d:port` or `[v6]:port`, the address in the one spelling its tool reads as written (no
 * leading zeros: see api/cidr.ts). Names are resolved before: a rule matches addresses only.
 */
function parseIpPort(target: string): { family: IpFamily; ip: string; port: number } {
  const m = /^(?:([\d.]+)|\[([0-9a-fA-F:.]+)\]):(\d{1,5})$/.exec(target.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) {
    throw new InterceptConfigError(`control plane address "${target}" is not IPv4:port or [IPv6]:port (resolve names first)`);
  }
  if (m[2] !== undefined) {
    if (!isIPv6(m[2])) throw new InterceptConfigError(`control plane address "${target}": "${m[2]}" is not an IPv6 address`);
    return { family: 'IPv6', ip: ipv6Text(m[2]), port };
  }
  if (!isIPv4(m[1]!)) {
    throw new InterceptConfigError(`control plane address "${target}": "${m[1]}" is not an IPv4 address as iptables would read it (four numbers 0-255, no leading zeros: iptables reads 010 as octal 8)`);
  }
  return { family: 'IPv4', ip: m[1]!, port };
}
