// The pods' address families: read as written, and seen in a pod's own addresses (status.podIPs).
import { describe, expect, it } from 'vitest';
import { hasIpv6, isDualStack, parsePodIpFamily, podIpFamilyOf, primaryFamily } from '../../api/pod-ip-family.ts';

describe('pod IP families', () => {
  it('reads the four families exactly as Kubernetes writes ipFamilies, primary first', () => {
    expect(['IPv4', 'IPv6', 'IPv4,IPv6', 'IPv6,IPv4'].map(parsePodIpFamily)).toEqual(['IPv4', 'IPv6', 'IPv4,IPv6', 'IPv6,IPv4']);
    for (const bad of ['ipv4', 'IPv4, IPv6', 'IPv4,IPv4', 'IPv6,IPv4,IPv6', '', 'dual']) expect(parsePodIpFamily(bad), bad).toBeUndefined();
    expect(['IPv4', 'IPv6', 'IPv4,IPv6', 'IPv6,IPv4'].map((f) => [primaryFamily(f as never), hasIpv6(f as never), isDualStack(f as never)])).toEqual([
      ['IPv4', false, false],
      ['IPv6', true, false],
      ['IPv4', true, true],
      ['IPv6', true, true],
    ]);
  });

  it('sees the family in a pod\'s addresses, in their order; anything else is none', () => {
    expect(podIpFamilyOf(['10.0.0.7'])).toBe('IPv4');
    expect(podIpFamilyOf(['fd00::7'])).toBe('IPv6');
    expect(podIpFamilyOf(['10.0.0.7', 'fd00::7'])).toBe('IPv4,IPv6');
    expect(podIpFamilyOf(['fd00::7', '10.0.0.7'])).toBe('IPv6,IPv4');
    for (const bad of [[], ['10.0.0.7', '10.0.0.8'], ['10.0.0.7', 'fd00::7', '10.0.0.8'], ['pod-a'], ['010.0.0.7']]) expect(podIpFamilyOf(bad), bad.join(',')).toBeUndefined();
  });
});
