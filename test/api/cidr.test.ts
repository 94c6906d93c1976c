// Every part of the mesh that reads a CIDR reads the same texts the same way: proxy-init's
// --skip-inbound-from, the injector's skip-subnets annotation, the destination's networks, the
// proxy's --cluster-networks and the networks of an inbound policy. A text one of them takes and
// another refuses is a policy that means one thing where it is checked and another where it is
// enforced (`10.0.0.0/` was refused by the destination and read as /0, everyone, by the proxy).
import { describe, expect, it } from 'vitest';
import { readCidr } from '../../api/cidr.ts';
import { cidrAt } from '../../destination/store/kinds/meta.ts';
import { cidrList } from '../../injector/annotations.ts';
import { buildRuleSets, DEFAULT_SKIP_INBOUND } from '../../proxy-init/rules.ts';
import { loadConfig } from '../../proxy/config.ts';
import { parseNetwork } from '../../proxy/inbound/authz/cidr.ts';

/** [text, what every reader takes it as, or undefined: every reader refuses it]. */
const TABLE: Array<[string, string | undefined]> = [
  ['10.0.0.0/8', '10.0.0.0/8'],
  ['10.1.2.3', '10.1.2.3/32'],
  ['0.0.0.0/0', '0.0.0.0/0'],
  ['10.1.2.3/32', '10.1.2.3/32'],
  ['FD00::/8', 'fd00::/8'],
  ['fd00:0:0::1', 'fd00::1/128'],
  ['::/0', '::/0'],
  ['::ffff:1.2.3.4/24', '::ffff:1.2.3.4/24'],
  ['10.0.0.0/', undefined],
  ['10.0.0.0/ 8', undefined],
  ['10.0.0.0/1e1', undefined],
  ['10.0.0.0/0x10', undefined],
  ['10.0.0.0/08', '10.0.0.0/8'],
  ['10.0.0.0/8/9', undefined],
  ['10.0.0.0/-1', undefined],
  ['10.0.0.0/33', undefined],
  ['fd00::/129', undefined],
  ['010.0.0.0/8', undefined],
  ['10.1', undefined],
  ['fe80::1%eth0', undefined],
  ['fe80::1%eth0/64', undefined],
  ['[fd00::1]', undefined],
  ['[fd00::]/8', undefined],
  ['fd00::7::1', undefined],
  ['1.2.3.256/32', undefined],
  ['banana', undefined],
  ['/8', undefined],
];

/** Each reader's verdict: the CIDR it keeps (as it writes it), or undefined when it refuses the text. */
const READERS: Record<string, (text: string) => string | undefined> = {
  'api/cidr.ts': (t) => attempt(() => readCidr(t).text),
  'proxy-init --skip-inbound-from': (t) =>
    attempt(() => {
      const sets = buildRuleSets(
        { inboundPort: 4143, outboundPort: 4140, proxyUid: 2102, skipInboundPorts: DEFAULT_SKIP_INBOUND, skipOutboundPorts: '', controlPlane: [], skipInboundFrom: [t] },
        ['IPv4', 'IPv6'],
      );
      const rule = sets.flatMap((s) => s.set.rules).find((r) => r.includes('ignore-inbound-sources'));
      return /-s (\S+) /.exec(rule ?? '')?.[1];
    }),
  'injector skip-subnets': (t) => cidrList(t),
  'destination networks': (t) => attempt(() => cidrAt(t, 'spec.networks[0].cidr')),
  // These two keep the text as written and match with the reading: taken means taken as it.
  'proxy --cluster-networks': (t) => attempt(() => (loadConfig(['--pod-ip', '10.0.0.7', '--cluster-networks', t], {}), readCidr(t).text)),
  'inbound policy networks': (t) => attempt(() => (parseNetwork(t), readCidr(t).text)),
};

function attempt(read: () => string | undefined): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

describe('one reading of a CIDR', () => {
  it.each(TABLE)('%s: every reader takes it as %s, or every reader refuses it', (text, want) => {
    const verdicts = Object.fromEntries(Object.entries(READERS).map(([name, read]) => [name, read(text)]));
    expect(verdicts).toEqual(Object.fromEntries(Object.keys(READERS).map((name) => [name, want])));
  });

  it('says what is wrong, naming the text', () => {
    expect(() => readCidr('10.0.0.0/')).toThrow('"10.0.0.0/" is not an IPv4 or IPv6 address or CIDR such as 10.244.0.254/32 or fd00::254/128');
    expect(() => readCidr('fd00::/129')).toThrow('"fd00::/129": the prefix length of an IPv6 network is 0 to 128');
  });
});
