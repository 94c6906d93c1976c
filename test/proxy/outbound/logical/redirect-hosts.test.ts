// A RequestRedirect (route-filters.ts's redirectResponse) where the request or the filter names an
// IPv6 host: the Location brackets it, and a redirect back to the same address is still a loop.
import { describe, expect, it } from 'vitest';
import type { RedirectFilter } from '../../../../api/destination-types.ts';
import { redirectResponse } from '../../../../proxy/outbound/logical/route-filters.ts';
import { meshRequest } from '../../../helpers/fake-request.ts';

const redirect = (authority: string, filter: Omit<RedirectFilter, 'type' | 'statusCode'>, path = '/old?x=1') =>
  redirectResponse(meshRequest({ authority, path }), { type: 'RequestRedirect', statusCode: 302, ...filter }, ['/old'], 'route GET /old');

describe('redirects and IPv6 hosts', () => {
  it('writes an IPv6 host in brackets, with a port or without (the scheme\'s own)', () => {
    expect(redirect('[fd00::5]:8080', { port: 9090 }).headers.location).toBe('http://[fd00::5]:9090/old?x=1');
    expect(redirect('[fd00::5]:8080', { scheme: 'https' }).headers.location).toBe('https://[fd00::5]/old?x=1');
    expect(redirect('orders.production:8080', { hostname: 'fd00::6' }).headers.location).toBe('http://[fd00::6]:8080/old?x=1');
    expect(redirect('orders.production:8080', { hostname: 'fd00::6', scheme: 'https' }).headers.location).toBe('https://[fd00::6]/old?x=1');
    expect(new URL(redirect('[FD00::5]:8080', { port: 80 }).headers.location as string).host).toBe('[fd00::5]');
  });

  it('refuses as a loop a redirect whose host is the request\'s own, bracketed or not', () => {
    expect(() => redirect('[fd00::5]:8080', { hostname: 'fd00::5' })).toThrow(/redirect loop/);
    expect(() => redirect('[fd00::5]:8080', { hostname: '[fd00::5]' })).toThrow(/redirect loop/);
    expect(redirect('[fd00::5]:8080', { hostname: 'fd00::5', port: 8081 }).headers.location).toBe('http://[fd00::5]:8081/old?x=1');
  });
});
