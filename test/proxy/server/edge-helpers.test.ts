// The edge's small decisions: settings from flags and environment, request targets, grpc-timeout,
// authority normalisation, and the one error-to-response mapping.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../proxy/config.ts';
import { ProxyError } from '../../../proxy/errors.ts';
import { targetPort } from '../../../proxy/inbound/stack.ts';
import { normalizeAuthority } from '../../../proxy/outbound/targets.ts';
import { errorResponse } from '../../../proxy/server/error-response.ts';
import { HOP_BY_HOP } from '../../../proxy/http/hop-by-hop.ts';
import { readHttp1Head } from '../../../proxy/http/http1-head.ts';
import { requestTarget } from '../../../proxy/server/http1-request.ts';
import { parseGrpcTimeout } from '../../../proxy/server/request-context.ts';

describe('config', () => {
  it('defaults, environment, then flags (flags win)', () => {
    expect(loadConfig([], {})).toMatchObject({ podIp: '127.0.0.1', outboundPort: 4140, inboundPort: 4143, adminPort: 4191, maxHeaderBytes: 65536 });
    const c = loadConfig(['--outbound-port', '5000', '--pod-ip=127.0.10.3'], { MESH_PROXY_OUTBOUND_PORT: '6000', MESH_PROXY_APP_PORT: '8080' });
    expect(c).toMatchObject({ outboundPort: 5000, podIp: '127.0.10.3', defaultAppPort: 8080 });
  });

  it('a bad value names the setting and where it came from', () => {
    expect(() => loadConfig([], { MESH_PROXY_INBOUND_PORT: '70000' })).toThrow(/MESH_PROXY_INBOUND_PORT="70000" is not a port .*--inbound-port/);
    expect(() => loadConfig(['--detect-timeout-ms', 'soon'], {})).toThrow(/--detect-timeout-ms="soon" is not a positive number of milliseconds/);
    expect(() => loadConfig(['--no-such-flag', '1'], {})).toThrow(/unknown option "--no-such-flag"/);
    expect(() => loadConfig(['--pod-ip'], {})).toThrow(/--pod-ip needs a value/);
  });
});

describe('request targets', () => {
  it('origin-form uses Host; absolute-form uses its authority and drops userinfo', () => {
    expect(requestTarget('/a?b=1', 'web:8080', undefined)).toEqual({ authority: 'web:8080', path: '/a?b=1' });
    expect(requestTarget('http://user:pw@web:8080/x?y', undefined, undefined)).toEqual({ authority: 'web:8080', path: '/x?y' });
    expect(requestTarget('http://web', undefined, undefined)).toEqual({ authority: 'web', path: '/' });
  });

  it('inside a CONNECT tunnel the CONNECT target decides', () => {
    expect(requestTarget('/a', 'other', 'web:8080')).toEqual({ authority: 'web:8080', path: '/a' });
  });

  it('no Host and no absolute URI, or a strange target, is a BAD_REQUEST', () => {
    expect(requestTarget('/a', undefined, undefined)).toBeInstanceOf(ProxyError);
    expect(requestTarget('ftp:/x', 'h', undefined)).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('authorities normalise to lower-case host:port', () => {
    expect(normalizeAuthority('Web.Test', 'http')).toBe('web.test:80');
    expect(normalizeAuthority('web:8080', 'http')).toBe('web:8080');
    expect(normalizeAuthority('[::1]:9', 'http')).toBe('[::1]:9');
    expect(() => normalizeAuthority('a b', 'http')).toThrow(/not host\[:port\]/);
    expect(() => normalizeAuthority('a:99999', 'http')).toThrow(ProxyError);
  });

  it('l5d-dst-port picks the app port; a bad one is refused', () => {
    expect(targetPort('9090', 8080)).toBe(9090);
    expect(targetPort(undefined, 8080)).toBe(8080);
    expect(() => targetPort(undefined, undefined)).toThrow(/no l5d-dst-port/);
    expect(() => targetPort('0', 8080)).toThrow(/is not a port/);
    expect(() => targetPort('80; rm', 8080)).toThrow(/is not a port/);
  });
});

describe('HTTP/1 heads', () => {
  it('drops hop-by-hop headers and those Connection names, keeps repeats and te: trailers', () => {
    const raw = ['Host', 'h', 'Connection', 'keep-alive, X-Secret', 'X-Secret', '1', 'X-A', '1', 'x-a', '2', 'TE', 'trailers, deflate', 'Transfer-Encoding', 'chunked', 'Expect', '100-continue'];
    const head = readHttp1Head(raw, new Set([...HOP_BY_HOP, 'expect']));
    expect(head.headers).toEqual({ host: 'h', 'x-a': ['1', '2'], te: 'trailers' });
    expect(head).toMatchObject({ host: 'h', hasBody: true, chunked: true });
    // Only what the caller lists beside the hop-by-hop headers goes: a response keeps an expect.
    expect(readHttp1Head(raw, HOP_BY_HOP).headers).toEqual({ host: 'h', 'x-a': ['1', '2'], te: 'trailers', expect: '100-continue' });
    expect(readHttp1Head(['Content-Length', '0'], HOP_BY_HOP).hasBody).toBe(false);
  });

  it('keeps headers named like Object properties as headers (a hostile peer names them to crash the reader)', () => {
    const head = readHttp1Head(['Constructor', 'a', '__proto__', 'b', 'constructor', 'c', 'toString', 'd', 'hasOwnProperty', 'e'], HOP_BY_HOP);
    expect(Object.hasOwn(head.headers, 'constructor') && head.headers['constructor']).toEqual(['a', 'c']);
    expect(Object.hasOwn(head.headers, 'tostring') && head.headers['tostring']).toBe('d');
    expect(Object.hasOwn(head.headers, 'hasownproperty') && head.headers['hasownproperty']).toBe('e');
    // A `__proto__` header is dropped (http1-head.ts: assigning it makes no own property), and nothing else is added.
    expect(Object.keys(head.headers)).toEqual(['constructor', 'tostring', 'hasownproperty']);
  });
});

describe('grpc-timeout', () => {
  it.each([
    ['1S', 1000],
    ['250m', 250],
    ['2M', 120000],
    ['1H', 3600000],
    ['5000u', 5],
    ['99999999m', 99999999],
  ])('%s is %d ms', (v, ms) => expect(parseGrpcTimeout(v)).toBeCloseTo(ms));

  it.each(['', 'S', '1', '1x', '123456789S', '-1S'])('%j is ignored', (v) => expect(parseGrpcTimeout(v)).toBeUndefined());
});

describe('errors the proxy makes', () => {
  it('HTTP: status and l5d-proxy-error, one header line even for hostile messages', () => {
    const e = errorResponse(new ProxyError('CONNECT_FAILED', 'endpoint 1.2.3.4:80: refused\r\nx-injected: 1'), false);
    expect(e.status).toBe(502);
    expect(e.headers['l5d-proxy-error']).toBe('endpoint 1.2.3.4:80: refused x-injected: 1');
  });

  it('gRPC: HTTP 200, trailers-only, grpc-status 14 or 4, percent-encoded message', () => {
    const unavailable = errorResponse(new ProxyError('NO_ENDPOINTS', 'no endpoints for "x"'), true);
    expect(unavailable).toMatchObject({ status: 200, headers: { 'grpc-status': '14', 'grpc-message': 'no%20endpoints%20for%20%22x%22' } });
    expect(errorResponse(new ProxyError('RESPONSE_TIMEOUT', 't'), true).headers['grpc-status']).toBe('4');
    expect(errorResponse(new Error('socket hang up'), false)).toMatchObject({ status: 502, error: { code: 'UPSTREAM_RESET' } });
  });
});
