// Turns an HTTP/1.1 request's raw header list into the mesh's HeaderMap in one pass, dropping
// hop-by-hop headers (RFC 9110 7.6.1) and picking out the few the edge itself needs.
import { HOP_BY_HOP } from '../http/hop-by-hop.ts';
import type { HeaderMap } from '../http/message.ts';

/** Headers that describe one connection, or that this edge has already acted on. */
const DROPPED = new Set([
  ...HOP_BY_HOP,
  // Node's server answers `Expect: 100-continue` itself, so the next hop must not wait for it.
  'expect',
]);

export interface Http1Head {
  headers: HeaderMap;
  host: string | undefined;
  contentType: string | undefined;
  /** The request has a body: a non-zero content-length, or a transfer-encoding. */
  hasBody: boolean;
  chunked: boolean;
}

export function readHttp1Head(raw: string[]): Http1Head {
  let named: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    // `Connection: keep-alive` (every pooled request from another proxy) names no other header.
    if (raw[i]!.length === 10 && raw[i + 1] !== 'keep-alive' && raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) (named ??= []).push(t.trim().toLowerCase());
    }
  }
  const headers: HeaderMap = {};
  let host: string | undefined;
  let contentType: string | undefined;
  let hasBody = false;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'host') host ??= value;
    else if (name === 'content-type') contentType ??= value;
    else if (name === 'content-length') hasBody ||= value !== '0';
    else if (name === 'transfer-encoding') {
      hasBody = true;
      chunked ||= value.toLowerCase().includes('chunked');
    } else if (name === 'te') {
      // `te: trailers` is end to end for gRPC; every other TE token is hop-by-hop.
      if (value.toLowerCase().includes('trailers')) headers['te'] = 'trailers';
      continue;
    }
    if (DROPPED.has(name) || (named !== undefined && named.includes(name))) continue;
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (typeof prev === 'string') headers[name] = [prev, value];
    else prev.push(value);
  }
  return { headers, host, contentType, hasBody, chunked };
}
