// Turns an HTTP/1.1 message's raw header list (a request's at the server edge, a response's or its
// trailers at the endpoint client) into the mesh's HeaderMap in one pass, dropping hop-by-hop
// headers (RFC 9110 7.6.1) and those the Connection header names, and picking out the few headers
// the edge itself needs.
import { connectionTokens } from './hop-by-hop.ts';
import type { HeaderMap } from './message.ts';

export interface Http1Head {
  headers: HeaderMap;
  host: string | undefined;
  contentType: string | undefined;
  /** A request's `Expect` (the server edge answers it itself, and drops it). */
  expect: string | undefined;
  /** The message has a body: a non-zero content-length, or a transfer-encoding. */
  hasBody: boolean;
  chunked: boolean;
}

/**
 * `dropped`: the hop-by-hop headers (`HOP_BY_HOP`), plus any the caller has acted on itself (the
 * server edge's `expect`). Repeated headers become arrays. A Connection header naming more
 * headers is rare, so those are dropped afterwards, in a copy, only when one came.
 */
export function readHttp1Head(raw: string[], dropped: ReadonlySet<string>): Http1Head {
  let named: string[] | undefined;
  let headers: HeaderMap = {};
  let host: string | undefined;
  let contentType: string | undefined;
  let expect: string | undefined;
  let hasBody = false;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'host') host ??= value;
    else if (name === 'content-type') contentType ??= value;
    else if (name === 'expect') expect ??= value;
    else if (name === 'content-length') hasBody ||= value !== '0';
    else if (name === 'transfer-encoding') {
      hasBody = true;
      chunked ||= value.toLowerCase().includes('chunked');
    } else if (name === 'te') {
      // `te: trailers` is end to end for gRPC; every other TE token is hop-by-hop.
      if (value.toLowerCase().includes('trailers')) headers['te'] = 'trailers';
      continue;
    } else if (name === 'connection' && value !== 'keep-alive') {
      // `Connection: keep-alive` (nearly every message between proxies) names no other header.
      for (const token of connectionTokens(value) ?? []) (named ??= []).push(token);
    }
    if (dropped.has(name)) continue;
    // Own properties only: a peer's `constructor` header would find Object's (and throw below);
    // a `__proto__` header cannot be set on a plain object, and is dropped.
    const prev = Object.hasOwn(headers, name) ? headers[name] : undefined;
    if (prev === undefined) headers[name] = value;
    else if (typeof prev === 'string') headers[name] = [prev, value];
    else prev.push(value);
  }
  if (named !== undefined) {
    const kept: HeaderMap = {};
    for (const name in headers) if (name === 'te' || !named.includes(name)) kept[name] = headers[name]!;
    headers = kept;
  }
  return { headers, host, contentType, expect, hasBody, chunked };
}
