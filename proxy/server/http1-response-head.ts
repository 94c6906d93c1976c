// An HTTP/1.1 response head as the server edge writes it, checked before a byte goes out: a status
// or header that cannot be written (an HTTP/2 upstream's headers never went through an HTTP/1
// parser; CR/LF in a value would let it inject a response) is refused, and the edge answers 502.
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { CodedError } from '../../api/errors.ts';
import type { HeaderMap } from '../http/message.ts';

export class ResponseHeadError extends CodedError<'INVALID_STATUS' | 'INVALID_HEADER'> {
  override readonly name = 'ResponseHeadError';
}

/** The connection's own headers: its framing and persistence are the writer's to say. */
const FRAMING = new Set(['connection', 'keep-alive', 'transfer-encoding']);

export interface ResponseHead {
  /** Status line and the response's headers, each line ended; the framing lines are the writer's. */
  text: string;
  /** The `content-length` the headers gave, or -1. */
  contentLength: number;
}

/** The status line and headers of a response, as node:http's writeHead wrote them (names as given, a repeated header once per value). */
export function responseHead(status: number, headers: HeaderMap): ResponseHead {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new ResponseHeadError('INVALID_STATUS', `invalid status code ${String(status)}`);
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  let contentLength = -1;
  let date = false;
  for (const name in headers) {
    if (FRAMING.has(name)) continue;
    if (name === 'content-length') contentLength = Number(headers[name]);
    else if (name === 'date') date = true;
    text += headerLines(name, headers[name]!);
  }
  if (!date) text += `Date: ${utcDate()}\r\n`;
  return { text, contentLength };
}

/** A chunked response's trailer section, checked as its head is (node:http's addTrailers did). */
export function trailerLines(trailers: HeaderMap): string {
  let text = '';
  for (const name in trailers) text += headerLines(name, trailers[name]!);
  return text;
}

/** `name: value` lines, one per value; throws a ResponseHeadError for what HTTP/1.1 cannot carry. */
function headerLines(name: string, value: string | string[]): string {
  try {
    validateHeaderName(name);
    if (typeof value === 'string') {
      validateHeaderValue(name, value);
      return `${name}: ${value}\r\n`;
    }
    let text = '';
    for (const one of value) {
      validateHeaderValue(name, one);
      text += `${name}: ${one}\r\n`;
    }
    return text;
  } catch (err) {
    throw new ResponseHeadError('INVALID_HEADER', `header "${printable(name)}": ${(err as Error).message}`);
  }
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

let cachedDate = '';
let cachedSecond = -1;

/** The `Date` header's value (RFC 9110 6.6.1: an origin sends one), made once a second. */
function utcDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}
