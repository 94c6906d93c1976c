// `mesh proxy` as an operator runs it: an address flag that is not a real IPv4 or IPv6 address is
// refused at start, before anything is bound, with exit 2 and a sentence naming the flag and the value.
import { describe, expect, it } from 'vitest';
import { runMesh } from '../cli/run-mesh.ts';

describe('mesh proxy address flags', () => {
  it.each([
    [['--pod-ip', '999.1.1.1'], 'mesh proxy: --pod-ip="999.1.1.1" is not an IPv4 or IPv6 address (setting --pod-ip / MESH_POD_IP)'],
    [['--pod-ip', '::::'], 'mesh proxy: --pod-ip="::::" is not an IPv4 or IPv6 address (setting --pod-ip / MESH_POD_IP)'],
    [['--outbound-ip', '127.0.0.01'], 'mesh proxy: --outbound-ip="127.0.0.01" is not an IPv4 or IPv6 address (setting --outbound-ip / MESH_PROXY_OUTBOUND_IP)'],
  ])('refuses %j, naming the flag and the value', async (args, message) => {
    const run = await runMesh(['proxy', ...args, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0']);
    expect([run.code, run.err.trim()]).toEqual([2, message]);
  });
});
