// bench http1 with --baseline-proxy: the paced latency of the two builds compared slice by slice.
import { describe, expect, it } from 'vitest';
import { latencyAgainstBaseline } from '../../bench/http1.ts';

describe('latencyAgainstBaseline', () => {
  it('is the median of the paired slices\' differences, not the difference of pooled figures, each difference printed', () => {
    // One slice of the baseline ran under a burst of background load: pooled, the baseline looks
    // slower; slice by slice, this build is 0.02 ms slower in four pairs of five.
    // The p99s the same way, so that they too are paired, not pooled (pooled, this build would be
    // 2 ms faster; paired, 1 ms).
    const mesh = [0.62, 0.7, 0.66, 0.64, 0.68].map((p50, i) => ({ p50, p99: 3 + i }));
    const baseline = [0.6, 0.68, 2.5, 0.62, 0.66].map((p50, i) => ({ p50, p99: i === 2 ? 30 : 4 + i }));
    const [p50, p99] = latencyAgainstBaseline(mesh, baseline);
    expect(p50!.value).toBeCloseTo(0.02, 9);
    expect(p50!.what).toBe('paced p50 mesh - baseline mesh, median of paired slices (0.020 0.020 -1.840 0.020 0.020)');
    expect(p99!.value).toBe(-1);
    expect(p99!.what).toBe('paced p99 mesh - baseline mesh, median of paired slices (-1.000 -1.000 -25.000 -1.000 -1.000)');
    expect(p99!.unit).toBe('ms');
  });
});
