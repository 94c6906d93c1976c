// `mesh proxy-init` for real, in network namespaces this test creates (root; CI runs as root):
// plain TCP clients that know nothing of proxies are redirected; the proxy's own user, skipped
// ports and the admin port are not; a second run changes nothing; --remove leaves nothing; no
// NET_ADMIN or no iptables is a clear error with no rule installed.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, ready, tagClient, tagServer } from '../helpers/netns.ts';

const MESH = join(import.meta.dirname, '../../bin/mesh.js');
const PROXY_UID = 2102;
const APP_UID = 65534;

describe('mesh proxy-init in a pod namespace', () => {
  let lab: NetnsLab;
  let a: { ns: string; ip: string };
  let b: { ns: string; ip: string };
  const mesh = (ns: string, args: string[], opts = {}) => lab.run(ns, [process.execPath, MESH, 'proxy-init', ...args], opts);
  const connect = async (ns: string, uid: number, ip: string, port: number) => {
    const r = await lab.run(ns, tagClient(ip, port), { uid });
    if (r.code !== 0) throw new Error(`client uid ${uid} -> ${ip}:${port}: ${r.err}`);
    return r.out.trim();
  };

  beforeAll(async () => {
    lab = NetnsLab.create(2);
    [a, b] = lab.pods as [typeof a, typeof b];
    // Stand-ins for the proxies' listeners: they answer with their name, so a test sees who got the bytes.
    const servers = [
      lab.spawn(a.ns, tagServer('outbound-proxy', [['127.0.0.1', 4140]])),
      lab.spawn(b.ns, tagServer('inbound-proxy', [[b.ip, 4143]])),
      lab.spawn(b.ns, tagServer('app', [[b.ip, 8080], [b.ip, 9999]])),
      lab.spawn(b.ns, tagServer('admin', [[b.ip, 4191]])),
    ];
    await Promise.all(servers.map((s, i) => ready(s, `server ${i}`)));
  }, 60_000);

  afterAll(() => expect(lab?.closeAndFindLeftovers() ?? []).toEqual([]));

  it('redirects a plain client, but not the proxy user, skipped ports or the admin port', async () => {
    const installA = await mesh(a.ns, ['--proxy-uid', String(PROXY_UID), '--skip-outbound-ports', '9999']);
    expect(installA.code, installA.err).toBe(0);
    expect(installA.out).toContain('now installed:');
    const installB = await mesh(b.ns, ['--proxy-uid', String(PROXY_UID), '--skip-inbound-ports', '9999']);
    expect(installB.code, installB.err).toBe(0);

    // The app's outbound connection lands on its own proxy's outbound port.
    expect(await connect(a.ns, APP_UID, b.ip, 8080)).toMatch(/^outbound-proxy 127\.0\.0\.1:4140$/);
    // The proxy's own dial is not looped back to itself; at the far pod it lands on the inbound port.
    expect(await connect(a.ns, PROXY_UID, b.ip, 8080)).toBe(`inbound-proxy ${b.ip}:4143`);
    // Skipped outbound at a, skipped inbound at b: the app reaches the app.
    expect(await connect(a.ns, APP_UID, b.ip, 9999)).toBe(`app ${b.ip}:9999`);
    // The admin port is never the app's: not redirected inbound.
    expect(await connect(a.ns, PROXY_UID, b.ip, 4191)).toBe(`admin ${b.ip}:4191`);
  }, 60_000);

  it('is idempotent, and --remove takes every rule away', async () => {
    const before = await mesh(a.ns, ['--list']);
    const again = await mesh(a.ns, ['--proxy-uid', String(PROXY_UID), '--skip-outbound-ports', '9999']);
    expect(again.code, again.err).toBe(0);
    const after = await mesh(a.ns, ['--list']);
    expect(after.out).toBe(before.out);
    expect(after.out.split('\n').filter((l) => l.startsWith('-A OUTPUT'))).toHaveLength(1);
    expect(after.out.split('\n').filter((l) => l.startsWith('-A PREROUTING'))).toHaveLength(1);

    const removed = await mesh(a.ns, ['--remove']);
    expect(removed.code, removed.err).toBe(0);
    expect((await mesh(a.ns, ['--list'])).out.trim()).toBe('');
    const saved = await lab.run(a.ns, ['iptables-save', '-t', 'nat']);
    expect(saved.out).not.toContain('PROXY_INIT');
    // Without rules in a, the app's connection goes straight out (and b's rules still catch it).
    expect(await connect(a.ns, APP_UID, b.ip, 8080)).toBe(`inbound-proxy ${b.ip}:4143`);
    expect((await mesh(a.ns, ['--remove'])).out).toContain('nothing removed');
  }, 60_000);

  it('warns that IPv6 goes around the proxy when the pod has a routable IPv6 address, and only then', async () => {
    // Link-local addresses (fe80::) are on every link and reach nothing beyond it: no warning for them.
    const plain = await mesh(a.ns, ['--proxy-uid', String(PROXY_UID)]);
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).not.toContain('IPv6');
    lab.addIpv6(b.ns, 'fd00:238::2');
    const v6 = await mesh(b.ns, ['--proxy-uid', String(PROXY_UID), '--skip-inbound-ports', '9999']);
    expect(v6.code, v6.err).toBe(0);
    expect(v6.out).toMatch(/mesh proxy-init: warning: IPv6 is not intercepted: TCP over this pod's IPv6 addresses \(fd00:238::2 on eth0\) goes around the proxy/);
    await mesh(a.ns, ['--remove']);
  }, 60_000);

  it('--ipv6 writes the same rules with ip6tables: IPv6 TCP goes through the proxy too, and --remove takes them away', async () => {
    const [a6, b6] = ['fd00:239::1', 'fd00:239::2'];
    lab.addIpv6(a.ns, a6);
    lab.addIpv6(b.ns, b6);
    const standIns = [
      lab.spawn(a.ns, tagServer('outbound-proxy', [['::1', 4140]])),
      lab.spawn(b.ns, tagServer('inbound-proxy', [[b6, 4143]])),
      lab.spawn(b.ns, tagServer('app', [[b6, 8080]])),
    ];
    await Promise.all(standIns.map((s, i) => ready(s, `IPv6 server ${i}`)));
    for (const ns of [a.ns, b.ns]) {
      const installed = await mesh(ns, ['--proxy-uid', String(PROXY_UID), '--ipv6']);
      expect(installed.code, installed.err).toBe(0);
      expect(installed.out).toContain('# ip6tables');
      expect(installed.out).not.toContain('IPv6 is not intercepted');
    }
    // The app's IPv6 connection lands on its proxy's outbound port on ::1 (where ip6tables REDIRECT delivers);
    // the proxy's own dial is left alone, and at the far pod lands on the inbound port.
    expect(await connect(a.ns, APP_UID, b6, 8080)).toBe('outbound-proxy ::1:4140');
    expect(await connect(a.ns, PROXY_UID, b6, 8080)).toBe(`inbound-proxy ${b6}:4143`);
    expect((await mesh(a.ns, ['--list', '--ipv6'])).out).toMatch(/# ip6tables\n(.*\n)*-A PROXY_INIT_OUTPUT .*REDIRECT --to-ports 4140/);

    for (const ns of [a.ns, b.ns]) expect((await mesh(ns, ['--remove', '--ipv6'])).code).toBe(0);
    expect((await lab.run(a.ns, ['ip6tables-save', '-t', 'nat'])).out).not.toContain('PROXY_INIT');
    expect(await connect(a.ns, APP_UID, b6, 8080)).toBe(`app ${b6}:8080`);
  }, 60_000);

  it('without NET_ADMIN: a clear error and no rule installed', async () => {
    const denied = await mesh(a.ns, [], { setpriv: ['--inh-caps=-net_admin', '--bounding-set=-net_admin'] });
    expect(denied.code).toBe(1);
    expect(denied.err).toContain('NET_ADMIN_MISSING');
    expect(denied.err).toContain('NET_ADMIN capability');
    expect((await lab.run(a.ns, ['iptables-save', '-t', 'nat'])).out).not.toContain('PROXY_INIT');
  }, 60_000);

  it('without the iptables binaries: a clear error naming them and no rule installed', async () => {
    const missing = await mesh(a.ns, [], { env: { ...process.env, PATH: '/nonexistent' } });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/IPTABLES_MISSING: iptables-save not found on PATH \(\/nonexistent\).*apt-get install iptables/);
    expect((await lab.run(a.ns, ['iptables-save', '-t', 'nat'])).out).not.toContain('PROXY_INIT');
  }, 60_000);
});
