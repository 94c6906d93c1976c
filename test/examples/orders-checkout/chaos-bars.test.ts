// The chaos suite's bar checks (bench/chaos/chaos.ts): a process killed again in the same run
// (`--repeat`) meets the kubelet's doubled back-off, and is judged against that one.
import { describe, expect, it } from 'vitest';
import { checkBars, type FaultResult } from '../../../bench/chaos/chaos.ts';

const killed = (backReadyMs: number, backoffMs?: number): FaultResult => ({
  fault: 'orders-canary app', kind: 'canary', requests: 200, failed: 0, normalMs: 0, failures: {}, samples: {}, slowestMs: 50, backReadyMs, ...(backoffMs ? { backoffMs } : {}),
});

describe('chaos bars', () => {
  it('judges each kill against the back-off it met: 10 s, then 20 s, then 40 s', () => {
    const bars = checkBars([killed(12_200, 10_000), killed(22_200, 20_000), killed(42_200, 40_000)], 10);
    expect(bars.map((b) => b.ok)).toEqual([true, true, true]);
  });

  it('still fails a pod back later than its back-off and 20 s to start', () => {
    expect(checkBars([killed(31_000, 10_000), killed(61_000, 40_000), killed(31_000)], 10).map((b) => b.ok)).toEqual([false, false, false]);
  });
});
