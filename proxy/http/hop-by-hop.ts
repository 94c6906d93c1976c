// Hop-by-hop headers (RFC 9110 7.6.1, RFC 9113 8.2.2): they describe one connection, so a proxy
// drops them on every hop, together with any header the Connection header names.
import type { HeaderMap } from './message.ts';

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * A copy of `headers` without hop-by-hop headers and without HTTP/2 pseudo-headers.
 * `te: trailers` survives, because gRPC requires it end to end over HTTP/2.
 * (`for...in` and a token list made only when a Connection header names one: this runs once
 * per response on every hop, and `Object.entries` plus a Set per call showed in profiles.)
 */
export function endToEndHeaders(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const named = connectionTokens(headers['connection']);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
    const lower = name.toLowerCase();
    if (lower === 'te') {
      if (String(value).toLowerCase().includes('trailers')) out['te'] = 'trailers';
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (named !== undefined && named.includes(lower))) continue;
    out[lower] = value;
  }
  return out;
}

/** The header names a Connection header lists (lower case), or undefined when it lists none. */
export function connectionTokens(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  let tokens: string[] | undefined;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const token = t.trim().toLowerCase();
      // `keep-alive` is hop-by-hop anyway, and the token most responses carry.
      if (token && token !== 'keep-alive') (tokens ??= []).push(token);
    }
  }
  return tokens;
}
