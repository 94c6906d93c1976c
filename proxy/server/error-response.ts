// The one place where an error the proxy makes becomes what the client sees (DESIGN.md):
// an HTTP status with `l5d-proxy-error`, or for gRPC a trailers-only HTTP 200 with grpc-status.
import type { OutgoingHttpHeaders } from 'node:http';
import { asProxyError, type ProxyError } from '../errors.ts';

export interface ErrorResponse {
  error: ProxyError;
  status: number;
  headers: OutgoingHttpHeaders;
}

/** Header values must be one line of visible latin1; upstream messages may hold anything. */
function headerSafe(text: string): string {
  const flat = text.replace(/[^\x20-\x7e]+/g, ' ');
  return flat.length > 512 ? `${flat.slice(0, 509)}...` : flat;
}

/**
 * grpc-message is percent-encoded (gRPC over HTTP/2 spec). URI-reserved characters (`:` `/` `@`...)
 * stay literal: grpc-js decodes with decodeURI, which leaves `%3A` and `%2F` encoded, so a client
 * would read `Server production%2Forders-grpc`; the spec allows them unencoded.
 */
function grpcMessage(text: string): string {
  const encoded = encodeURIComponent(text.length > 512 ? `${text.slice(0, 509)}...` : text);
  return encoded.replace(/%(3B|2F|3F|3A|40|26|3D|2B|24|2C|23)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** A request's target as log lines show it: the path without its query, which may carry credentials (`?token=...`). */
export function pathForLog(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : `${target.slice(0, q)}?...`;
}

export function errorResponse(err: unknown, grpc: boolean): ErrorResponse {
  const error = asProxyError(err);
  const reason = headerSafe(error.message);
  if (grpc) {
    return {
      error,
      status: 200,
      headers: {
        'content-type': 'application/grpc',
        'grpc-status': String(error.grpcStatus),
        'grpc-message': grpcMessage(error.message),
        'l5d-proxy-error': reason,
      },
    };
  }
  return {
    error,
    status: error.httpStatus,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'l5d-proxy-error': reason,
    },
  };
}

/** A body for plain-HTTP errors, so a human with curl reads why. */
export function errorBody(e: ErrorResponse): string {
  return `${e.error.code}: ${e.error.message}\n`;
}

/** A raw HTTP/1.1 error response for sockets no HTTP server owns (bad request line, CONNECT failures). */
export function rawHttp1Error(status: number, reason: string, code: string, message: string): string {
  const body = `${code}: ${message}\n`;
  return (
    `HTTP/1.1 ${status} ${reason}\r\n` +
    `l5d-proxy-error: ${headerSafe(message)}\r\n` +
    'content-type: text/plain; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}
