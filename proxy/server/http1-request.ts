// Pure pieces of the HTTP/1.1 edge: where a request goes (origin-form, absolute-form, inside
// CONNECT), and what status a parser complaint deserves.
import { ProxyError } from '../errors.ts';

/**
 * What the client asked for: origin-form with Host, absolute-form (forward proxy), or `*`. On a
 * redirected connection the Host still names the target (routes and profiles are the Host's, as
 * in Linkerd); the original destination stands in only for a request without one.
 */
export function requestTarget(
  url: string,
  host: string | undefined,
  connectTarget: string | undefined,
  originalDst?: string,
): { authority: string; path: string } | ProxyError {
  if (url.charCodeAt(0) === 47 /* '/' */ || url === '*') {
    const authority = connectTarget ?? host ?? originalDst;
    if (!authority) return new ProxyError('BAD_REQUEST', 'request has no Host header and no absolute-form URI');
    return { authority, path: url };
  }
  const m = /^(https?):\/\/([^/?#]+)([^#]*)/i.exec(url);
  if (!m) return new ProxyError('BAD_REQUEST', `request target "${url.slice(0, 100)}" is neither origin-form nor absolute-form`);
  const at = m[2]!.lastIndexOf('@'); // userinfo never reaches the next hop
  return { authority: at >= 0 ? m[2]!.slice(at + 1) : m[2]!, path: m[3] || '/' };
}

/** The answer to input the parser refused, or to a head too slow; undefined when the client is gone (nothing to answer). */
export function clientErrorAnswer(err: Error & { code?: string }): { status: number; reason: string; why: string } | undefined {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
    case 'HPE_INVALID_EOF_STATE':
      return undefined;
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', why: 'request headers exceed the proxy limit' };
    case 'HEAD_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', why: err.message };
    default: {
      // The parser's error says "Parse Error" and keeps the why in `reason` (node:http joined them).
      const reason = (err as { reason?: string }).reason;
      return { status: 400, reason: 'Bad Request', why: `${err.code ?? 'parse error'}: ${err.message}${reason ? `: ${reason}` : ''}` };
    }
  }
}
