// The rule set as text (what `mesh proxy-init --dry-run` prints), and its refusals of bad settings.
import { describe, expect, it } from 'vitest';
import { lookup } from 'node:dns/promises';
import { buildRules, buildRuleSets, DEFAULT_SKIP_INBOUND, InterceptConfigError, multiportChunks, restoreText } from '../../proxy-init/rules.ts';
import { runMesh } from '../cli/run-mesh.ts';

const base = { inboundPort: 4143, outboundPort: 4140, proxyUid: 2102, skipInboundPorts: DEFAULT_SKIP_INBOUND, skipOutboundPorts: '', controlPlane: [] };

describe('proxy-init rules', () => {
  it('exempts the proxy user before loopback before skipped ports, then redirects the rest', () => {
    const { rules, jumps } = buildRules({ ...base, skipOutboundPorts: '25, 587,4000-4100', controlPlane: ['10.0.0.9:8086'] });
    const outbound = rules.filter((r) => r.startsWith('-A PROXY_INIT_OUTPUT'));
    expect(outbound.map((r) => /proxy-init\/([a-z-]+)/.exec(r)![1])).toEqual([
      'ignore-proxy-user-id',
      'ignore-loopback',
      'ignore-control-plane',
      'ignore-outbound-ports',
      'redirect-all-outgoing-to-proxy-port',
    ]);
    expect(outbound[0]).toContain('--uid-owner 2102 -j RETURN');
    expect(outbound[2]).toContain('-d 10.0.0.9/32 -p tcp --dport 8086 -j RETURN');
    expect(outbound[3]).toContain('--dports 25,587,4000:4100 -j RETURN');
    expect(outbound[4]).toContain('-p tcp -j REDIRECT --to-ports 4140');
    expect(rules.filter((r) => r.startsWith('-A PROXY_INIT_REDIRECT')).at(-1)).toContain('-p tcp -j REDIRECT --to-ports 4143');
    expect(jumps).toEqual([expect.stringMatching(/^-A PREROUTING -j PROXY_INIT_REDIRECT /), expect.stringMatching(/^-A OUTPUT -j PROXY_INIT_OUTPUT /)]);
  });

  it('for ip6tables: the same rules, each family with its own sources and control-plane addresses only', () => {
    const settings = {
      ...base,
      skipOutboundPorts: '25',
      controlPlane: ['10.0.0.9:8086', '[fd00::9]:8086'],
      skipInboundFrom: ['10.244.0.254', 'fd00:10:244::254/128', '10.1.0.0/16', 'FD00:0:0:1::/64'],
    };
    const v4 = buildRules(settings).rules;
    const v6 = buildRules(settings, 'IPv6').rules;
    const addressed = (rules: string[]) => rules.filter((r) => /ignore-control-plane|ignore-inbound-sources/.test(r));
    expect(addressed(v4)).toEqual([
      expect.stringContaining('-s 10.244.0.254/32 -p tcp -j RETURN'),
      expect.stringContaining('-s 10.1.0.0/16 -p tcp -j RETURN'),
      expect.stringContaining('-d 10.0.0.9/32 -p tcp --dport 8086 -j RETURN'),
    ]);
    // IPv6 as Node writes it (RFC 5952), whatever the spelling given.
    expect(addressed(v6)).toEqual([
      expect.stringContaining('-s fd00:10:244::254/128 -p tcp -j RETURN'),
      expect.stringContaining('-s fd00:0:0:1::/64 -p tcp -j RETURN'),
      expect.stringContaining('-d fd00::9/128 -p tcp --dport 8086 -j RETURN'),
    ]);
    // Everything else is the same in both, in the same order.
    expect(v6.filter((r) => !addressed(v6).includes(r))).toEqual(v4.filter((r) => !addressed(v4).includes(r)));
    // Each address is checked whatever the family being built.
    expect(() => buildRules({ ...base, skipInboundFrom: ['010.0.0.1'] }, 'IPv6')).toThrow(/skip-inbound-from: "010.0.0.1" is not an IPv4 or IPv6 address/);
    expect(() => buildRules({ ...base, controlPlane: ['[fd00::1::2]:80'] })).toThrow(/control plane address "\[fd00::1::2\]:80": "fd00::1::2" is not an IPv6 address/);
  });

  it('gives each address to its own family\'s rules, and refuses an IPv6 one when no ip6tables rules are written', () => {
    const settings = { ...base, controlPlane: ['[fd00::9]:8086'], skipInboundFrom: ['10.244.0.254'] };
    expect(buildRuleSets(settings, ['IPv4', 'IPv6']).map((r) => r.family)).toEqual(['IPv4', 'IPv6']);
    expect(() => buildRuleSets(settings, ['IPv4'])).toThrow(
      new InterceptConfigError('control plane address "[fd00::9]:8086" is an IPv6 address, but no ip6tables rules are written (add --ipv6)'),
    );
    expect(() => buildRuleSets({ ...base, skipInboundFrom: ['fd00::1/128'] }, ['IPv4'])).toThrow(
      /^skip-inbound-from "fd00::1\/128" is an IPv6 address, but no ip6tables rules are written \(add --ipv6\)$/,
    );
    expect(() => buildRuleSets({ ...base, skipInboundFrom: ['10.0.0.1'] }, ['IPv6'])).toThrow(/is an IPv4 address, but no iptables rules are written/);
  });

  it('refuses an IPv6 source that is not one, naming it', () => {
    for (const bad of ['fd00::1/129', 'fe80::1%eth0', 'fd00:::1', '[fd00::1]', 'fd00::g', '::ffff:10.0.0.1.5']) {
      expect(() => buildRules({ ...base, skipInboundFrom: [bad] }), bad).toThrow(`skip-inbound-from: "${bad}" is not an IPv4 or IPv6 address or CIDR`);
    }
    expect(buildRules({ ...base, skipInboundFrom: ['::/0'] }, 'IPv6').rules[0]).toContain('-s ::/0 -p tcp -j RETURN');
  });

  it('lets the node\'s probes reach the app straight, before any inbound redirect', () => {
    const { rules } = buildRules({ ...base, skipInboundFrom: ['10.244.0.254', '10.1.0.0/16'] });
    const inbound = rules.filter((r) => r.startsWith('-A PROXY_INIT_REDIRECT'));
    expect(inbound.slice(0, 2)).toEqual([
      expect.stringContaining('-s 10.244.0.254/32 -p tcp -j RETURN'),
      expect.stringContaining('-s 10.1.0.0/16 -p tcp -j RETURN'),
    ]);
    expect(inbound.at(-1)).toContain('REDIRECT --to-ports 4143');
    expect(() => buildRules({ ...base, skipInboundFrom: ['10.0.0.1/40'] })).toThrow(/skip-inbound-from: "10.0.0.1\/40"/);
    // iptables reads a leading 0 as octal (010.0.0.1 would be 8.0.0.1): such a spelling is refused, a prefix's is dropped.
    expect(() => buildRules({ ...base, skipInboundFrom: ['010.0.0.1'] })).toThrow(/skip-inbound-from: "010.0.0.1"/);
    expect(buildRules({ ...base, skipInboundFrom: ['10.0.0.0/08'] }).rules[0]).toContain('-s 10.0.0.0/8 -p tcp');
  });

  it('splits port lists at multiport\'s 15 ports, a range counting twice', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 1000 + i).join(',');
    expect(multiportChunks(ports, 'x').map((c) => c.split(',').length)).toEqual([15, 5]);
    expect(multiportChunks('1-2,3-4,5-6,7-8,9-10,11-12,13-14,15', 'x')).toEqual(['1:2,3:4,5:6,7:8,9:10,11:12,13:14,15']);
    expect(multiportChunks('1-2,3-4,5-6,7-8,9-10,11-12,13-14,15-16', 'x')).toEqual(['1:2,3:4,5:6,7:8,9:10,11:12,13:14', '15:16']);
  });

  it('refuses bad settings, naming them', () => {
    expect(() => buildRules({ ...base, skipOutboundPorts: '25,abc' })).toThrow(/skip-outbound-ports: "25,abc"/);
    expect(() => buildRules({ ...base, skipInboundPorts: '9-3' })).toThrow(/skip-inbound-ports/);
    expect(() => buildRules({ ...base, inboundPort: 70000 })).toThrow(/inbound port/);
    expect(() => buildRules({ ...base, controlPlane: ['10.0.0.300:1'] })).toThrow(/control plane address "10.0.0.300:1"/);
  });

  it('refuses a control plane address with a leading-zero octet (iptables would read it as octal)', () => {
    for (const bad of ['010.0.0.1:8086', '10.0.0.01:8086', '10.00.0.1:8086']) {
      expect(() => buildRules({ ...base, controlPlane: [bad] })).toThrow(new RegExp(`control plane address "${bad}": ".*" is not an IPv4 address as iptables would read it`));
    }
    expect(buildRules({ ...base, controlPlane: ['10.0.0.0:8086'] }).rules).toContain('-A PROXY_INIT_OUTPUT -d 10.0.0.0/32 -p tcp --dport 8086 -j RETURN -m comment --comment "proxy-init/ignore-control-plane"');
  });

  it('mesh proxy-init --control-plane refuses 010.0.0.1 and 10.1 instead of resolving them to other hosts', async () => {
    for (const [flag, host] of [['010.0.0.1:8086', '010.0.0.1'], ['10.1:8086', '10.1']] as const) {
      const bad = await runMesh(['proxy-init', '--dry-run', '--control-plane', flag]);
      expect(bad.code).not.toBe(0);
      expect(bad.out).not.toContain('*nat');
      expect(bad.err).toContain(`--control-plane: "${flag}": "${host}" is not an IPv4 address (four numbers 0-255, no leading zeros)`);
    }
    const good = await runMesh(['proxy-init', '--dry-run', '--control-plane', '10.0.0.1:8086,localhost:8080']);
    expect(good.code).toBe(0);
    expect(good.out).toContain('-d 10.0.0.1/32 -p tcp --dport 8086 -j RETURN');
    expect(good.out).toContain('-d 127.0.0.1/32 -p tcp --dport 8080 -j RETURN');
  });

  it('mesh proxy-init --dry-run --ipv6: IPv4 addresses in the iptables rules, IPv6 ones in the ip6tables rules; an IPv6 one without --ipv6 is refused', async () => {
    const flags = ['--control-plane', '10.0.0.9:8086,[fd00::9]:8086,localhost:8080', '--skip-inbound-from', '10.244.0.254,fd00:10:244::254'];
    const both = await runMesh(['proxy-init', '--dry-run', '--ipv6', ...flags]);
    expect(both.code, both.err).toBe(0);
    const [v4, v6] = both.out.split('# ip6tables\n') as [string, string];
    expect(v6).toBeDefined();
    // localhost is resolved to every address it has, each into its own family's rules.
    const local = await lookup('localhost', { all: true, family: 0 });
    for (const [text, family, bits] of [[v4, 4, 32], [v6, 6, 128]] as const) {
      const addresses = [...text.matchAll(/ -[sd] (\S+)\/\d+ /g)].map((m) => m[1]!);
      expect(addresses.length, text).toBeGreaterThanOrEqual(2);
      expect(addresses.every((a) => (family === 4 ? !a.includes(':') : a.includes(':'))), text).toBe(true);
      for (const { address } of local.filter((l) => l.family === family)) expect(text).toContain(`-d ${address}/${bits} -p tcp --dport 8080 -j RETURN`);
    }
    expect(v4).toContain('-s 10.244.0.254/32 -p tcp -j RETURN');
    expect(v4).toContain('-d 10.0.0.9/32 -p tcp --dport 8086 -j RETURN');
    expect(v6).toContain('-s fd00:10:244::254/128 -p tcp -j RETURN');
    expect(v6).toContain('-d fd00::9/128 -p tcp --dport 8086 -j RETURN');

    const without = await runMesh(['proxy-init', '--dry-run', ...flags]);
    expect([without.code, without.out]).toEqual([1, '']);
    expect(without.err.trim()).toBe('mesh proxy-init: INTERCEPT_CONFIG: skip-inbound-from "fd00:10:244::254" is an IPv6 address, but no ip6tables rules are written (add --ipv6)');
    const controlPlane = await runMesh(['proxy-init', '--dry-run', '--control-plane', '[fd00::9]:8086']);
    expect([controlPlane.code, controlPlane.out, controlPlane.err.trim()]).toEqual([1, '', 'mesh proxy-init: INTERCEPT_CONFIG: control plane address "[fd00::9]:8086" is an IPv6 address, but no ip6tables rules are written (add --ipv6)']);
    const badHost = await runMesh(['proxy-init', '--dry-run', '--ipv6', '--control-plane', '[10.0.0.1]:80']);
    expect([badHost.code, badHost.err.split('\n')[0]]).toEqual([2, 'mesh proxy-init: --control-plane "[10.0.0.1]:80" is not host:port ("[10.0.0.1]" is not an IPv6 address in brackets), such as 127.0.0.1:8080 or [fd00::5]:8080']);
  });

  it('mesh proxy-init reads its ports and UID by the one whole-number rule, in range, naming the flag (exit 2)', async () => {
    for (const [flag, value, range] of [
      ['--inbound-port', '70000', 'from 1 to 65535'], ['--outbound-port', '0', 'from 1 to 65535'], ['--inbound-port', '4143.0', 'from 1 to 65535'],
      ['--proxy-uid', '4294967296', 'from 0 to 4294967294'], ['--proxy-uid', '-1', 'from 0 to 4294967294'], ['--proxy-uid', '1e3', 'from 0 to 4294967294'],
    ] as const) {
      const bad = await runMesh(['proxy-init', '--dry-run', `${flag}=${value}`]);
      expect([bad.code, bad.out]).toEqual([2, '']);
      expect(bad.err).toContain(`${flag} must be a whole number ${range}, got "${value}"`);
    }
    const good = await runMesh(['proxy-init', '--dry-run', '--inbound-port', '65535', '--proxy-uid', '0']);
    expect(good.code).toBe(0);
    expect(good.out).toBe(restoreText(buildRules({ ...base, inboundPort: 65535, proxyUid: 0, skipInboundPorts: DEFAULT_SKIP_INBOUND })));
  });

  it('mesh proxy-init --dry-run prints the iptables-restore input and changes nothing', async () => {
    const { code, out } = await runMesh(['proxy-init', '--dry-run', '--skip-inbound-ports', '22', '--proxy-uid', '1500']);
    expect(code).toBe(0);
    expect(out).toBe(restoreText(buildRules({ ...base, proxyUid: 1500, skipInboundPorts: `${DEFAULT_SKIP_INBOUND},22` })));
    expect(out.split('\n')[0]).toBe('*nat');
    expect(out.trimEnd().split('\n').at(-1)).toBe('COMMIT');
    const bad = await runMesh(['proxy-init', '--dry-run', '--skip-outbound-ports', '80,x']);
    expect([bad.code, bad.err]).toEqual([1, expect.stringContaining('INTERCEPT_CONFIG: skip-outbound-ports: "80,x"')]);
    const usage = await runMesh(['proxy-init', '--dry-run', '--remove']);
    expect([usage.code, usage.err]).toEqual([2, expect.stringContaining('exclude each other')]);
  });
});
