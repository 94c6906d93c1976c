// A tap filter on a peer's address, against addresses as the proxy writes them (`ip:port`,
// `[v6]:port`, or the pod IP alone): an IP alone matches every port of it, IPv6 included, with or
// without brackets; `ip:port` that port only.
import { describe, expect, it } from 'vitest';
import { compileMatch, type RequestFacts } from '../../../proxy/tap/match.ts';

function facts(sourceAddress: string): RequestFacts {
  return { direction: 'inbound', method: 'GET', authority: 'web', path: '/', source: { address: sourceAddress }, destination: {}, destinationKnown: true };
}

const matches = (want: string, have: string) => compileMatch({ source: { address: want } })(facts(have));

describe('tap filter on a source address', () => {
  it('an IPv6 address alone (bare or in brackets) matches any port of it, and only it', () => {
    expect(matches('fd00::5', '[fd00::5]:41000')).toBe(true);
    expect(matches('[fd00::5]', '[fd00::5]:41000')).toBe(true);
    expect(matches('fd00::5', '[fd00::6]:41000')).toBe(false);
    // A bare IPv6 address whose last group is a number is still one address, not `fd00:` and a port.
    expect(matches('fd00::5', '[fd00::5:41000]:80')).toBe(false);
    expect(matches('::1', '[::1]:5')).toBe(true);
  });

  it('an IPv6 address written another way (upper case, zeros not compressed) matches the peer Node names', () => {
    expect(matches('FD00::5', '[fd00::5]:41000')).toBe(true);
    expect(matches('[fd00:0:0:0:0:0:0:5]', '[fd00::5]:41000')).toBe(true);
    expect(matches('0:0:0:0:0:0:0:1', '[::1]:5')).toBe(true);
    expect(matches('FD00::6', '[fd00::5]:41000')).toBe(false);
  });

  it('an IPv4 address alone matches any port of it; with a port, that port only; the pod IP alone as written', () => {
    expect(matches('10.0.0.5', '10.0.0.5:41000')).toBe(true);
    expect(matches('10.0.0.5', '10.0.0.50:41000')).toBe(false);
    expect(matches('10.0.0.5', '10.0.0.5')).toBe(true);
    expect(matches('10.0.0.5:41000', '10.0.0.5:41000')).toBe(true);
    expect(matches('10.0.0.5:41000', '10.0.0.5:41001')).toBe(false);
    expect(matches('[fd00::5]:41000', '[fd00::5]:41000')).toBe(true);
  });
});
