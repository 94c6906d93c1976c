// The runner inside the node's namespace, started with a workloads folder that cannot be read: it
// fails with the folder named and leaves nothing listening or watching, so it exits and the host's
// runner (waiting on it) can clean up. Real sockets on a loopback /24 of the test's own; no root.
import { afterAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNetnsDemo } from '../../examples/orders-checkout/runner/netns/run-netns.ts';
import { localPlacement } from '../../examples/orders-checkout/runner/topology.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { splitHostPort } from '../../api/host-port.ts';

const root = join(import.meta.dirname, '../..');
const state = mkdtempSync(join(tmpdir(), 'netns-inside-'));
const saved = { ...process.env };

describe('the runner inside the node\'s namespace', () => {
  afterAll(() => {
    process.env = saved;
    rmSync(state, { recursive: true, force: true });
  });

  it('fails on an unreadable workloads folder with nothing left listening', async () => {
    const netPrefix = await addressBlock();
    Object.assign(process.env, { MESH_NETNS_NODE: 'mni', MESH_DEMO_NETNS: 'mni', MESH_DEMO_NET: netPrefix });
    mkdirSync(join(state, 'netns', 'mni'), { recursive: true }); // the run's folder, as the host's runner makes it
    const run = runNetnsDemo({
      root, stateDir: state, workloadsDir: join(state, 'no-such-folder'),
      manifestsDir: join(root, 'examples/orders-checkout/manifests'), readyTimeoutMs: 1000, say: () => {},
    });
    await expect(run).rejects.toThrow(/workloads folder .*no-such-folder/);
    // Each host address the runner forwards from is free again at once (no server was left open).
    const host = localPlacement(state, root);
    for (const addr of [host.ingressListen, host.vizAddr, host.dashboardAddr]) {
      const { host: ip, port } = splitHostPort(addr, 'a forwarded address');
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, ip, resolve));
      await new Promise((resolve) => server.close(resolve));
    }
    expect(existsSync(join(state, 'netns', 'mni', 'ingress.sock'))).toBe(false);
  });
});
