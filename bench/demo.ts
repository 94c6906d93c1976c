// Mode demo: load on the demo's path (ingress -> checkout -> orders -> payments). (Filled in once the demo runs.)
import type { BenchMode } from './mode.ts';

export const demoMode: BenchMode = {
  name: 'demo',
  summary: 'the orders/checkout demo under load, through the ingress',
  async available() {
    return 'the demo runner is not finished yet';
  },
  async run() {
    throw new Error('demo mode is not available yet');
  },
};
