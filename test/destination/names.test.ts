// Name resolution as Kubernetes DNS would do it, and Go-style durations.
import { describe, expect, it } from 'vitest';
import { resolveAuthority } from '../../destination/index/authority.ts';
import { durationMs } from '../../destination/store/field-reader.ts';

describe('resolveAuthority', () => {
  const r = (a: string, ns = 'checkout') => resolveAuthority(a, ns, 'cluster.local');
  it('resolves short, namespaced and fully qualified names against the caller\'s namespace', () => {
    expect(r('orders:8080')).toEqual({ kind: 'service', name: 'orders', namespace: 'checkout', port: 8080 });
    expect(r('orders.production:8080')).toEqual({ kind: 'service', name: 'orders', namespace: 'production', port: 8080 });
    expect(r('orders.production.svc:8080')).toEqual({ kind: 'service', name: 'orders', namespace: 'production', port: 8080 });
    expect(r('orders.production.svc.cluster.local.:8080')).toEqual({ kind: 'service', name: 'orders', namespace: 'production', port: 8080 });
    expect(r('ORDERS.production.svc.cluster.local')).toEqual({ kind: 'service', name: 'orders', namespace: 'production', port: 80 });
    expect(r('127.0.10.3:8080')).toEqual({ kind: 'ip', ip: '127.0.10.3', port: 8080 });
    expect(r('[::1]:8080')).toEqual({ kind: 'ip', ip: '::1', port: 8080 });
    // As with ndots:5, two labels are tried as <service>.<namespace> first; with no Service
    // "example" in namespace "com" the endpoint view then says the name is unknown.
    expect(r('example.com:443')).toEqual({ kind: 'service', name: 'example', namespace: 'com', port: 443 });
    expect(r('www.example.com:443').kind).toBe('unknown');
    expect(r('orders.production.svc.other.domain:80').kind).toBe('unknown');
    expect(r('orders:80', '').kind).toBe('unknown');
  });
  it('refuses what is not host[:port]', () => {
    expect(() => r('orders:99999')).toThrow('port must be 1-65535');
    expect(() => r('http://orders')).toThrow('must be host[:port]');
    expect(() => r('')).toThrow('must be host[:port]');
  });
});

describe('durationMs', () => {
  it('reads Go durations', () => {
    expect(durationMs('500ms', 'x')).toBe(500);
    expect(durationMs('10s', 'x')).toBe(10_000);
    expect(durationMs('1m30s', 'x')).toBe(90_000);
    expect(durationMs('1.5s', 'x')).toBe(1_500);
    expect(durationMs('0', 'x')).toBe(0);
    expect(durationMs('1.5h', 'x')).toBe(5_400_000);
    expect(() => durationMs('abc', 'spec.timeout')).toThrow('spec.timeout: "abc" is not a duration: expected a number at "abc"');
    expect(() => durationMs(5, 'spec.timeout')).toThrow('spec.timeout: must be a duration such as "500ms" or "10s", got 5');
    expect(() => durationMs('10', 'spec.timeout')).toThrow('spec.timeout: "10" is not a duration: "10" has no unit');
    expect(() => durationMs('-1s', 'spec.timeout')).toThrow('spec.timeout: must not be negative, got "-1s"');
  });
});
