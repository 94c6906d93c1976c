// `mesh proxy-init`: installs (or with --remove, deletes) the iptables rules that send a pod's
// TCP through its proxy, in the network namespace it runs in; --dry-run prints them only.
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import type { IpFamily } from '../../api/cidr.ts';
import { CodedError } from '../../api/errors.ts';
import { HostPortError, joinHostPort, splitHostPort } from '../../api/host-port.ts';
import { current, install, IptablesError, preflight, remove } from '../../proxy-init/iptables.ts';
import { routableIpv6Addresses } from '../../proxy-init/ipv6.ts';
import { buildRuleSets, DEFAULT_PROXY_UID, DEFAULT_SKIP_INBOUND, restoreText } from '../../proxy-init/rules.ts';
import { countFlag, parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'install the iptables rules that send a pod\'s TCP through its proxy (run in the pod\'s network namespace)';

const USAGE = `usage: mesh proxy-init [--inbound-port 4143] [--outbound-port 4140] [--proxy-uid 2102]
                      [--skip-inbound-ports LIST] [--skip-outbound-ports LIST]
                      [--control-plane HOST:PORT,...] [--skip-inbound-from CIDR,...]
                      [--ipv6] [--dry-run | --remove | --list]
  --skip-inbound-from: sources whose connections reach the app directly (the node's address, where probes come from).
  --control-plane, --skip-inbound-from: IPv4 or IPv6 (an IPv6 one only with --ipv6); each goes to its family's rules.
  --ipv6: the same rules with ip6tables too (a --transparent proxy takes its outbound port on [::1] as well);
          without it, TCP over the pod's IPv6 addresses goes around the proxy, and the log says so.
  LIST: ports or ranges, as the config.linkerd.io/skip-*-ports annotations (25,587,4000-4100).
  The proxy's admin and tap ports (${DEFAULT_SKIP_INBOUND}) are always skipped inbound.
  Needs NET_ADMIN and the iptables binaries; run it only in a pod's own network namespace.`;

const OPTIONS = {
  'inbound-port': { type: 'string', default: '4143' },
  'outbound-port': { type: 'string', default: '4140' },
  'proxy-uid': { type: 'string', default: String(DEFAULT_PROXY_UID) },
  'skip-inbound-ports': { type: 'string', default: '' },
  'skip-outbound-ports': { type: 'string', default: '' },
  'control-plane': { type: 'string', default: '' },
  'skip-inbound-from': { type: 'string', default: '' },
  'dry-run': { type: 'boolean', default: false },
  remove: { type: 'boolean', default: false },
  list: { type: 'boolean', default: false },
  ipv6: { type: 'boolean', default: false },
} as const;

const MAX_PORT = 65_535;
/** uid_t is 32 bits, and (uid_t)-1 means "no user": the highest UID a process can run as. */
const MAX_UID = 2 ** 32 - 2;

export function run(args: string[]): Promise<number> {
  return runCommand('proxy-init', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    if ([values['dry-run'], values.remove, values.list].filter(Boolean).length > 1) throw new UsageError('--dry-run, --remove and --list exclude each other');
    // Read before anything runs, so a malformed number is a usage error (exit 2) naming its flag.
    const inboundPort = countFlag(values['inbound-port'], '--inbound-port', MAX_PORT);
    const outboundPort = countFlag(values['outbound-port'], '--outbound-port', MAX_PORT);
    const proxyUid = countFlag(values['proxy-uid'], '--proxy-uid', MAX_UID, 0);
    try {
      const families: IpFamily[] = values.ipv6 ? ['IPv4', 'IPv6'] : ['IPv4'];
      // Each family's lines are told apart by a comment line, which iptables-restore also reads as one.
      const heading = (family: IpFamily) => (family === 'IPv6' ? '# ip6tables\n' : '');
      if (values.list) {
        for (const family of families) console.log(`${heading(family)}${(await current(undefined, family)).join('\n')}`);
        return 0;
      }
      if (values.remove) {
        for (const family of families) {
          const { committed } = await remove(undefined, family);
          log(committed === '' ? `no proxy-init ${family} rules were installed; nothing removed` : `removed:\n${heading(family)}${committed}`);
        }
        return 0;
      }
      const options = {
        inboundPort, outboundPort, proxyUid,
        skipInboundPorts: [DEFAULT_SKIP_INBOUND, values['skip-inbound-ports']].filter(Boolean).join(','),
        skipOutboundPorts: values['skip-outbound-ports'],
        controlPlane: await resolveAll(values['control-plane'], families),
        skipInboundFrom: values['skip-inbound-from'].split(',').filter((x) => x.trim() !== ''),
      };
      // Both built before anything is installed: a bad setting changes neither family.
      const sets = buildRuleSets(options, families);
      if (values['dry-run']) {
        for (const { family, set } of sets) process.stdout.write(`${heading(family)}${restoreText(set)}`);
        return 0;
      }
      // Every family's tools checked before the first commit: no ip6tables must not leave the IPv4 rules alone in place.
      for (const { family } of sets) preflight(undefined, family);
      for (const [i, { family, set }] of sets.entries()) {
        try {
          const { committed, installed } = await install(set, undefined, family);
          log(`committed:\n${heading(family)}${committed}now installed:\n${installed.join('\n')}`);
        } catch (err) {
          // Each family is one transaction of its own: say what the earlier ones left installed.
          if (i === 0 || !(err instanceof IptablesError)) throw err;
          const before = sets.slice(0, i).map((s) => s.family).join(' and ');
          throw new IptablesError(err.code, `${err.message}; the ${before} rules were committed before it: running again replaces them, --remove takes them away`, { cause: err });
        }
      }
      // Said where the pod's operator reads (this container's log), since nothing else would tell.
      const v6 = values.ipv6 ? [] : routableIpv6Addresses();
      if (v6.length > 0) {
        const where = v6.map((a) => `${a.address} on ${a.device}`).join(', ');
        log(`warning: IPv6 is not intercepted: TCP over this pod's IPv6 addresses (${where}) goes around the proxy, in and out (no ip6tables rules without --ipv6; proxy-init/README.md)`);
      }
      return 0;
    } catch (err) {
      // A flag's bad value (--control-plane's) is a usage error: the usage, exit 2, as runCommand prints it.
      if (err instanceof CodedError && !(err instanceof UsageError)) {
        console.error(`mesh proxy-init: ${err.code}: ${err.message}`);
        return 1;
      }
      throw err;
    }
  });
}

/** Logged with a timestamp, as an init container's output is all that remains of its run. */
function log(text: string): void {
  console.log(`${new Date().toISOString()} mesh proxy-init: ${text}`);
}

/**
 * `host:port` -> `ip:port` (`[ip]:port` for IPv6): iptables matches addresses, and a name must be
 * resolved once, here, to its addresses of the families whose rules are written (with --ipv6 its
 * IPv6 ones too: the rules of each family skip the control plane at its own addresses).
 */
async function resolveAll(list: string, families: readonly IpFamily[]): Promise<string[]> {
  const out: string[] = [];
  for (const entry of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    let host: string, port: number;
    try {
      ({ host, port } = splitHostPort(entry, '--control-plane'));
    } catch (err) {
      if (err instanceof HostPortError) throw new UsageError(err.message);
      throw err;
    }
    // Numbers and dots are an address as written, never a name: the resolver would read 010.0.0.1
    // as octal (8.0.0.1) and 10.1 as 10.0.0.1, and the rule would skip another host than meant.
    if (/^[\d.]+$/.test(host) && !isIPv4(host)) {
      throw new UsageError(`--control-plane: "${entry}": "${host}" is not an IPv4 address (four numbers 0-255, no leading zeros)`);
    }
    if (isIP(host) !== 0) {
      out.push(joinHostPort(host, port)); // an address: its family is checked against --ipv6 with the rules
      continue;
    }
    try {
      const addresses = await lookup(host, { all: true, family: families.includes('IPv6') ? 0 : 4 });
      for (const { address } of addresses) if (!out.includes(joinHostPort(address, port))) out.push(joinHostPort(address, port));
    } catch (err) {
      throw new UsageError(`--control-plane: cannot resolve "${host}": ${(err as Error).message}`);
    }
  }
  return out;
}
