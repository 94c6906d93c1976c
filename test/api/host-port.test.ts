// One host:port parser: IPv6 in brackets (and unbracketed, as `$(POD_IP):port` gives in an IPv6
// pod), host names, and clear refusals of what is not an address.
import { describe, expect, it } from 'vitest';
import { CodedError } from '../../api/errors.ts';
import { HostPortError, hostOfAddress, joinHostPort, splitHostPort } from '../../api/host-port.ts';

function refusal(text: string): HostPortError {
  try {
    splitHostPort(text, '--addr');
  } catch (err) {
    expect(err).toBeInstanceOf(HostPortError);
    expect(err).toBeInstanceOf(CodedError);
    expect((err as HostPortError).code).toBe('BAD_HOST_PORT');
    return err as HostPortError;
  }
  throw new Error(`expected "${text}" to be refused`);
}

describe('splitHostPort', () => {
  it('splits IPv4, names and bracketed IPv6, the host without its brackets', () => {
    expect(splitHostPort('127.0.0.1:8086', 'x')).toEqual({ host: '127.0.0.1', port: 8086 });
    expect(splitHostPort('orders.production.svc.cluster.local:8080', 'x')).toEqual({ host: 'orders.production.svc.cluster.local', port: 8080 });
    expect(splitHostPort('[::1]:4140', 'x')).toEqual({ host: '::1', port: 4140 });
    expect(splitHostPort('[fd00::5]:0', 'x')).toEqual({ host: 'fd00::5', port: 0 });
    expect(splitHostPort('[::ffff:10.0.0.1]:443', 'x')).toEqual({ host: '::ffff:10.0.0.1', port: 443 });
  });

  it('reads an unbracketed IPv6 address and port (what $(POD_IP):port gives) with the last part as the port', () => {
    expect(splitHostPort('fd00::5:8086', 'x')).toEqual({ host: 'fd00::5', port: 8086 });
    expect(splitHostPort('2001:db8::a:b:8443', 'x')).toEqual({ host: '2001:db8::a:b', port: 8443 });
  });

  it('refuses what is not host:port, naming the flag, the value and what is wrong', () => {
    expect(refusal('127.0.0.1').message).toBe('--addr "127.0.0.1" is not host:port (no port), such as 127.0.0.1:8080 or [fd00::5]:8080');
    // Each refused text, and what its message must say about it.
    const refusals: Array<[string, string]> = [
      ['127.0.0.1:http', 'the port "http" is not a number from 0 to 65535'],
      ['127.0.0.1:65536', 'the port "65536" is not a number from 0 to 65535'],
      ['127.0.0.1:-1', 'the port "-1"'],
      [':8080', '(no host)'],
      ['[]:8080', '"[]" is not an IPv6 address in brackets'],
      ['[10.0.0.1]:8080', '"[10.0.0.1]" is not an IPv6 address in brackets'],
      ['[::1:8080', '"[::1" is not an IPv6 address in brackets'],
      ['fe80::1', '"fe80:" is neither a host name nor an IPv6 address'],
      ['a:b:8080', '"a:b" is neither'],
      ['my host:80', 'a space in the host'],
      ['', '(no port)'],
    ];
    for (const [text, says] of refusals) expect(refusal(text).message, text).toContain(says);
  });
});

describe('joinHostPort', () => {
  it('brackets an IPv6 host and round-trips with splitHostPort', () => {
    expect(joinHostPort('fd00::5', 8086)).toBe('[fd00::5]:8086');
    expect(joinHostPort('127.0.0.1', '8080')).toBe('127.0.0.1:8080');
    for (const text of ['[::1]:1', '10.0.0.1:80', 'orders:8080']) {
      const { host, port } = splitHostPort(text, 'x');
      expect(joinHostPort(host, port)).toBe(text);
    }
  });
});

describe('hostOfAddress', () => {
  it('reads the host of ip:port and [v6]:port, and an address with no port as it is', () => {
    expect(hostOfAddress('10.0.0.5:41000')).toBe('10.0.0.5');
    expect(hostOfAddress('[fd00::5]:41000')).toBe('fd00::5');
    expect(hostOfAddress('[::ffff:10.0.0.5]:80')).toBe('::ffff:10.0.0.5');
    expect(hostOfAddress('[fd00::5]')).toBe('fd00::5');
    expect(hostOfAddress('10.0.0.5')).toBe('10.0.0.5');
    // Unbracketed, every group is the address's: `fd00::5:4143` is one IPv6 address.
    expect(hostOfAddress('fd00::5:4143')).toBe('fd00::5:4143');
    expect(hostOfAddress('unknown')).toBe('unknown');
  });

  it('leaves what is not one of those as it is (hostile text, never a throw)', () => {
    for (const text of ['', '[', ']', '[]', '[fd00::5', '[fd00::5]:', '[fd00::5]:x', '[fd00::5]80', '[fd00::5]:80:1', '[fd00::5]]:80', 'a:b:c']) {
      expect(hostOfAddress(text)).toBe(text);
    }
    expect(hostOfAddress(':80')).toBe('');
    expect(hostOfAddress('[]:80')).toBe('[]'); // not bracketed: host and port, the host '[]'
    expect(hostOfAddress('[a]:0')).toBe('a');
  });
});
