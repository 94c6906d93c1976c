// `Upgrade: h2c` (curl --http2 on an http:// URL) is served as plain HTTP/1.1: RFC 9113 section
// 3.1 retires the h2c upgrade and RFC 9110 section 7.8 lets a server ignore Upgrade. It is never
// a tunnel: the request is an ordinary HTTP/1.1 request once the upgrade headers are dropped.
import type { IncomingHttpHeaders } from 'node:http';
import type { TunnelRequest } from './http1-connection.ts';

/** True when every protocol the client offers to upgrade to is h2c. */
export function isH2cUpgrade(headers: IncomingHttpHeaders): boolean {
  const offered = (headers.upgrade ?? '').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  return offered.length > 0 && offered.every((t) => t === 'h2c');
}

/** Headers the h2c upgrade adds, which mean nothing once it is declined. */
const UPGRADE_ONLY = new Set(['upgrade', 'http2-settings']);

/**
 * The request head as it arrived, without `Upgrade`, `HTTP2-Settings` and those two tokens of
 * `Connection` (a `Connection` left with no token is dropped), in latin1 as HTTP/1 heads travel.
 */
export function withoutH2cUpgrade(req: TunnelRequest): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (UPGRADE_ONLY.has(lower)) continue;
    let value = raw[i + 1]!;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !UPGRADE_ONLY.has(t.toLowerCase()))
        .join(', ');
      if (value === '') continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
