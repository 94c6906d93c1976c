// The --netns run's namespace prefix, read from the environment: hostile values get a clear error,
// and no accepted prefix can claim another run's namespaces (a run owns `prefix` and `prefix-*`).
import { describe, expect, it } from 'vitest';
import { netnsNames } from '../../examples/orders-checkout/runner/netns/run-netns.ts';

describe('the --netns prefix', () => {
  it('defaults to meshnet and takes a short name of lowercase letters and digits', () => {
    expect(netnsNames({})).toEqual({ prefix: 'meshnet' });
    expect(netnsNames({ MESH_DEMO_NETNS: 'meshnet2' })).toEqual({ prefix: 'meshnet2' });
  });

  it('refuses a - (meshnet-2 would be among meshnet\'s pods, removed as its leftovers) and odd characters, naming the variable', () => {
    for (const bad of ['meshnet-2', 'a/b', 'Mesh', '1mesh', 'x'.repeat(21), 'mesh net']) {
      expect(() => netnsNames({ MESH_DEMO_NETNS: bad })).toThrow(`MESH_DEMO_NETNS="${bad}"`);
    }
  });
});
