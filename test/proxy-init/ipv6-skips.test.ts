// `mesh proxy-init --ipv6` for real, in network namespaces this test creates (root; CI runs as
// root): what the IPv4 rules leave alone, the ip6tables rules leave alone too (the proxy's user,
// loopback, the control plane, skipped ports, the node's sources), each family with addresses of
// its own only; an IPv6 address without --ipv6 is refused with nothing installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, ready, tagClient, tagServer } from '../helpers/netns.ts';

const MESH = join(import.meta.dirname, '../../bin/mesh.js');
const PROXY_UID = 2102;
const APP_UID = 65534;
const V6 = { a: 'fd00:242::1', b: 'fd00:242::2' };

describe('mesh proxy-init --ipv6: the skip rules of both families', () => {
  let lab: NetnsLab;
  let a: { ns: string; ip: string };
  let b: { ns: string; ip: string };
  const mesh = (ns: string, args: string[], opts = {}) => lab.run(ns, [process.execPath, MESH, 'proxy-init', '--proxy-uid', String(PROXY_UID), ...args], opts);
  const install = async (ns: string, args: string[]) => {
    const r = await mesh(ns, args);
    if (r.code !== 0) throw new Error(`mesh proxy-init ${args.join(' ')} in ${ns}: ${r.err}`);
    return r;
  };
  const connect = async (ns: string, uid: number, ip: string, port: number) => {
    const r = await lab.run(ns, tagClient(ip, port), { uid });
    if (r.code !== 0) throw new Error(`client uid ${uid} -> ${ip}:${port}: ${r.err}`);
    return r.out.trim();
  };
  /** Our lines of one family's nat table, as its own tool saves them. */
  const saved = async (ns: string, tool: 'iptables-save' | 'ip6tables-save') =>
    (await lab.run(ns, [tool, '-t', 'nat'])).out.split('\n').filter((l) => l.includes('PROXY_INIT'));

  beforeAll(async () => {
    lab = NetnsLab.create(2);
    [a, b] = lab.pods as [typeof a, typeof b];
    lab.addIpv6(a.ns, V6.a);
    lab.addIpv6(b.ns, V6.b);
    // Stand-ins that answer with their name and the address they were reached on.
    const servers = [
      lab.spawn(a.ns, tagServer('outbound-proxy', [['::1', 4140], ['127.0.0.1', 4140]])),
      lab.spawn(a.ns, tagServer('local', [['::1', 7000]])),
      lab.spawn(b.ns, tagServer('inbound-proxy', [[V6.b, 4143], [b.ip, 4143]])),
      lab.spawn(b.ns, tagServer('app', [[V6.b, 8080], [V6.b, 9999]])),
      lab.spawn(b.ns, tagServer('control-plane', [[V6.b, 8086], [b.ip, 8086]])),
      lab.spawn(b.ns, tagServer('admin', [[V6.b, 4191]])),
    ];
    await Promise.all(servers.map((s, i) => ready(s, `server ${i}`)));
  }, 60_000);

  afterAll(() => expect(lab?.closeAndFindLeftovers() ?? []).toEqual([]));

  it('outbound over IPv6: the proxy\'s user, loopback, the control plane and skipped ports go straight; the rest to [::1]:4140', async () => {
    const installed = await install(a.ns, ['--ipv6', '--control-plane', `${b.ip}:8086,[${V6.b}]:8086`, '--skip-outbound-ports', '9999']);
    expect(installed.out).toContain('# ip6tables');
    expect(await connect(a.ns, APP_UID, V6.b, 8080)).toBe('outbound-proxy ::1:4140');
    expect(await connect(a.ns, PROXY_UID, V6.b, 8080)).toBe(`app ${V6.b}:8080`);
    expect(await connect(a.ns, APP_UID, '::1', 7000)).toBe('local ::1:7000');
    expect(await connect(a.ns, APP_UID, V6.b, 8086)).toBe(`control-plane ${V6.b}:8086`);
    expect(await connect(a.ns, APP_UID, V6.b, 9999)).toBe(`app ${V6.b}:9999`);
    // And over IPv4 the same control plane, by its IPv4 address, in the iptables rules.
    expect(await connect(a.ns, APP_UID, b.ip, 8086)).toBe(`control-plane ${b.ip}:8086`);
    expect(await connect(a.ns, APP_UID, b.ip, 8080)).toBe('outbound-proxy 127.0.0.1:4140');

    // Each tool holds its own family's address and never the other's (ip6tables would refuse an IPv4 one).
    const v4 = await saved(a.ns, 'iptables-save');
    const v6 = await saved(a.ns, 'ip6tables-save');
    expect(v4.filter((l) => l.includes('ignore-control-plane'))).toEqual([expect.stringContaining(`-d ${b.ip}/32 -p tcp -m tcp --dport 8086`)]);
    expect(v6.filter((l) => l.includes('ignore-control-plane'))).toEqual([expect.stringContaining(`-d ${V6.b}/128 -p tcp -m tcp --dport 8086`)]);
    expect(v4.join('\n')).not.toContain('fd00:');
    expect(v6.join('\n')).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
  }, 60_000);

  it('inbound over IPv6: a skipped source reaches the app, and the admin port is never redirected', async () => {
    await install(b.ns, ['--ipv6', '--skip-inbound-from', `${a.ip},${V6.a}/128`]);
    // From a, as the proxy's user (a's rules leave it alone): b's ip6tables rules skip a's IPv6 address.
    expect(await connect(a.ns, PROXY_UID, V6.b, 8080)).toBe(`app ${V6.b}:8080`);
    expect(await connect(a.ns, PROXY_UID, V6.b, 4191)).toBe(`admin ${V6.b}:4191`);
    const list = await mesh(b.ns, ['--list', '--ipv6']);
    expect(list.out).toMatch(new RegExp(`# ip6tables\\n(.*\\n)*-A PROXY_INIT_REDIRECT -s ${V6.a}/128 -p tcp .*ignore-inbound-sources`));
    expect((await saved(b.ns, 'iptables-save')).filter((l) => l.includes('ignore-inbound-sources'))).toEqual([expect.stringContaining(`-s ${a.ip}/32`)]);

    // Run again without the source: the rules are replaced, and a's IPv6 connection now lands on the inbound port.
    await install(b.ns, ['--ipv6']);
    expect(await connect(a.ns, PROXY_UID, V6.b, 8080)).toBe(`inbound-proxy ${V6.b}:4143`);
    for (const ns of [a.ns, b.ns]) expect((await mesh(ns, ['--remove', '--ipv6'])).code).toBe(0);
  }, 60_000);

  it('an IPv6 address without --ipv6 is refused, naming it, and nothing is installed in either family', async () => {
    for (const args of [['--skip-inbound-from', `${V6.a}/128`], ['--control-plane', `[${V6.b}]:8086`]]) {
      const refused = await mesh(b.ns, args);
      expect(refused.code, refused.out).toBe(1);
      expect(refused.err).toMatch(/INTERCEPT_CONFIG: .* is an IPv6 address, but no ip6tables rules are written \(add --ipv6\)/);
    }
    expect(await saved(b.ns, 'iptables-save')).toEqual([]);
    expect(await saved(b.ns, 'ip6tables-save')).toEqual([]);
  }, 60_000);

  it('--ipv6 without the ip6tables binaries: a clear error naming them before any rule is committed, IPv4 ones included', async () => {
    // A PATH holding iptables' two binaries and not ip6tables'.
    const bin = mkdtempSync(join(tmpdir(), 'mesh-no-ip6tables-'));
    try {
      for (const name of ['iptables-save', 'iptables-restore']) symlinkSync(spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim(), join(bin, name));
      const missing = await mesh(b.ns, ['--ipv6'], { env: { PATH: bin } });
      expect(missing.code, missing.out).toBe(1);
      expect(missing.err).toMatch(/IPTABLES_MISSING: ip6tables-save not found on PATH/);
      expect(await saved(b.ns, 'iptables-save')).toEqual([]);
      // The same PATH without --ipv6 is enough for the IPv4 rules alone.
      expect((await mesh(b.ns, [], { env: { PATH: bin } })).code).toBe(0);
      expect(await saved(b.ns, 'iptables-save')).not.toEqual([]);
      expect((await mesh(b.ns, ['--remove'])).code).toBe(0);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  }, 60_000);
});
