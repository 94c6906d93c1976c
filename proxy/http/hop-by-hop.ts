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
 */
export function endToEndHeaders(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const named = connectionTokens(headers['connection']);
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    const lower = name.toLowerCase();
    if (lower === 'te') {
      if (String(value).toLowerCase().includes('trailers')) out['te'] = 'trailers';
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const token = t.trim().toLowerCase();
      if (token) tokens.add(token);
    }
  }
  return tokens;
}
