// An HTTP/1.1 request head as the endpoint client writes it, checked before a byte goes out: a
// method, path or header that cannot be written safely (CR/LF would let a caller inject a second
// request) is the request's fault, BAD_REQUEST, and nothing is sent.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { HeaderMap } from '../../http/message.ts';
import { ProxyError } from '../../errors.ts';

/** A header list as the client takes it: [name, value, ...], a repeated header's values as an array. */
export type FlatHeaders = Array<string | string[]>;

export interface RequestHead {
  /** Request line, `host`, `connection` and the headers, each line ended; the framing lines are the writer's. */
  text: string;
  /** The `content-length` the request gave, or null (then a body goes chunked). */
  contentLength: number | null;
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A request target is visible ASCII or obs-text: no space, CR, LF or NUL. */
const BAD_PATH_CHAR = /[^\u0021-\u00ff]/;
const DIGITS = /^\d+$/;

/**
 * The head of one request. The first header must be `host` (the client puts the authority
 * there). The layout is the one undici wrote, which this client replaced, byte for byte: request
 * line, `host`, `connection: keep-alive`, the headers in their order, and `content-length` last
 * (the writer adds it, or `transfer-encoding: chunked`, once it knows the body).
 */
export function requestHead(method: string, path: string, headers: FlatHeaders, label: string): RequestHead {
  if (!METHOD.test(method)) throw refused(label, `invalid method "${printable(method)}"`);
  if (BAD_PATH_CHAR.test(path)) throw refused(label, `invalid request target "${printable(path)}"`);
  let contentLength: number | null = null;
  let text = `${method} ${path} HTTP/1.1\r\nhost: ${value(headers[1]!, 'host', label)}\r\nconnection: keep-alive\r\n`;
  for (let i = 2; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const v = headers[i + 1]!;
    if (name === 'content-length') {
      const given = value(v, name, label);
      if (!DIGITS.test(given)) throw refused(label, `invalid content-length "${printable(given)}"`);
      contentLength = Number(given);
      continue;
    }
    // The connection's own headers are this client's to write: the edges drop a caller's
    // (hop-by-hop), so one here came from a layer, and framing it chose would not match the body.
    if (name === 'connection') continue;
    if (name === 'transfer-encoding' || name === 'keep-alive' || name === 'upgrade') throw refused(label, `${name} is the client's own header`);
    try {
      validateHeaderName(name);
    } catch {
      throw refused(label, `invalid header name "${printable(name)}"`);
    }
    if (Array.isArray(v)) for (const one of v) text += `${name}: ${value(one, name, label)}\r\n`;
    else text += `${name}: ${value(v, name, label)}\r\n`;
  }
  return { text, contentLength };
}

/**
 * Fields a trailer section may not carry (RFC 9110 6.5.1): framing and routing are the head's, and
 * a recipient could read them as the message's own.
 */
const NOT_TRAILERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'host', 'te', 'trailer', 'upgrade']);

/** A chunked request's trailer section, each line ended, checked as the head is: a field that cannot be written throws (BAD_REQUEST). */
export function trailerText(trailers: HeaderMap, label: string): string {
  let text = '';
  for (const name in trailers) {
    if (NOT_TRAILERS.has(name)) continue;
    try {
      validateHeaderName(name);
    } catch {
      throw refused(label, `invalid trailer name "${printable(name)}"`);
    }
    const v = trailers[name]!;
    if (Array.isArray(v)) for (const one of v) text += `${name}: ${value(one, name, label, 'trailer')}\r\n`;
    else text += `${name}: ${value(v, name, label, 'trailer')}\r\n`;
  }
  return text;
}

function value(v: string | string[], name: string, label: string, field: 'header' | 'trailer' = 'header'): string {
  if (Array.isArray(v)) throw refused(label, `${field} ${name} given more than once`);
  try {
    validateHeaderValue(name, v);
  } catch {
    throw refused(label, `invalid value for ${field} ${name}`);
  }
  return v;
}

function refused(label: string, what: string): ProxyError {
  return new ProxyError('BAD_REQUEST', `${label}: cannot send the request: ${what}`);
}

/** Control characters escaped, so an error message cannot carry a CR/LF into a log or a response. */
function printable(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s).slice(1, -1);
}
