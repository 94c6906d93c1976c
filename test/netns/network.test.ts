// The --netns demo's network, made and removed for real (root; CI is root): a pod on the node's
// bridge reaches the node and nothing else, and removing a run's namespaces (what the next start
// does after a crash) kills what still runs in them and leaves nothing behind.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createNode, createPod, hostsFile, listOwn, removeAll } from '../../examples/orders-checkout/runner/netns/network.ts';

const names = { prefix: `mnn${process.pid % 100000}` };
/** The crashed run's own node and pod, so that test runs on its own, in any order. */
const crashed = { prefix: `mnc${process.pid % 100000}` };
const inNs = (ns: string, argv: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8' });

describe('the --netns network', () => {
  afterAll(async () => {
    await removeAll(names);
    await removeAll(crashed);
  });

  it('joins a pod to the node over the bridge, names Services in its hosts file, routes nowhere else', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (network namespaces); CI runs as root');
    await createNode(names);
    const services = [{ name: 'orders', namespace: 'production', host: 'orders.production.svc.cluster.local', clusterIP: '10.96.0.10' }];
    const ns = await createPod(names, { name: 'web-0', ip: '10.244.0.9' }, hostsFile({ name: 'web-0', ip: '10.244.0.9' }, services));
    // A real TCP exchange from the pod to the node's address, across the veth and the bridge.
    const server = spawn('ip', ['netns', 'exec', names.prefix, process.execPath, '-e', "require('net').createServer((s) => s.end('node here')).listen(7070, '10.244.0.254', () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => server.stdout!.once('data', resolve));
    try {
      const said = inNs(ns, [process.execPath, '-e', "require('net').connect(7070, '10.244.0.254').on('data', (d) => process.stdout.write(d))"]);
      expect(said).toBe('node here');
    } finally {
      server.kill();
    }
    expect(inNs(ns, ['getent', 'ahostsv4', 'orders.production.svc.cluster.local'])).toMatch(/^10\.96\.0\.10\s/);
    // No DNS server: a name outside the hosts file fails at once instead of waiting on a server that cannot be reached.
    const t0 = Date.now();
    expect(() => execFileSync('ip', ['netns', 'exec', ns, 'getent', 'ahostsv4', 'example.org'], { stdio: 'pipe' })).toThrow();
    expect(Date.now() - t0).toBeLessThan(4000);
    // The node has no route out: a packet for any other address stops there.
    expect(() => execFileSync('ip', ['netns', 'exec', names.prefix, 'ip', 'route', 'get', '1.1.1.1'], { stdio: 'pipe' })).toThrow(/unreachable/i);
  });

  it('kills what still runs in a crashed run\'s namespaces, then deletes them', async () => {
    await createNode(crashed);
    const ns = await createPod(crashed, { name: 'web-0', ip: '10.244.0.9' }, hostsFile({ name: 'web-0', ip: '10.244.0.9' }, []));
    const orphan = spawn('ip', ['netns', 'exec', ns, 'sleep', '300'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).trim(); i++) await new Promise((r) => setTimeout(r, 50));
    const gone = new Promise((resolve) => orphan.on('close', (_c, signal) => resolve(signal)));
    expect((await removeAll(crashed)).sort()).toEqual([crashed.prefix, ns].sort());
    expect(await gone).toBe('SIGKILL');
    expect(await listOwn(crashed)).toEqual([]);
    expect(existsSync(`/etc/netns/${ns}`)).toBe(false);
    expect(readFileSync('/proc/net/dev', 'utf8')).not.toMatch(/\bvp9:/);
  });
});
