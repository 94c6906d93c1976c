// The tap server's gRPC wire pieces: a caller's grpc-timeout header read as a deadline.
import { describe, expect, it } from 'vitest';
import { grpcTimeoutMs } from '../../../proxy/tap/observe-call.ts';

describe('grpcTimeoutMs', () => {
  it('reads each unit gRPC defines', () => {
    expect(grpcTimeoutMs('2H')).toBe(7_200_000);
    expect(grpcTimeoutMs('3M')).toBe(180_000);
    expect(grpcTimeoutMs('5S')).toBe(5_000);
    expect(grpcTimeoutMs('250m')).toBe(250);
    expect(grpcTimeoutMs('1500u')).toBe(1.5);
    expect(grpcTimeoutMs('2000000n')).toBe(2);
  });

  it('gives no deadline for a missing or malformed header', () => {
    for (const bad of [undefined, '', '5', 'S', '5s', '-5S', '1.5S', '123456789S', ' 5S', ['5S']]) expect(grpcTimeoutMs(bad)).toBeUndefined();
  });

  it('gives no deadline, rather than one that fires at once, when the value is longer than a timer can wait', () => {
    expect(grpcTimeoutMs('596H')).toBe(596 * 3_600_000); // 24.8 days: a timer still holds it
    expect(grpcTimeoutMs('597H')).toBeUndefined();
    expect(grpcTimeoutMs('99999999H')).toBeUndefined();
  });
});

