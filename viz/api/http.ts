// Small pieces every viz API handler shares: reading query parameters strictly, and answering
// JSON or an error as `{"error":{"code","message"}}` with the error's HTTP status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VizError } from '../errors.ts';

/** The query parameters of `req`, refusing any name not in `allowed` (a typo is a 400, not ignored). */
export function queryOf(req: IncomingMessage, allowed: readonly string[]): Record<string, string | undefined> {
  const url = new URL(req.url ?? '/', 'http://viz');
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of url.searchParams) {
    if (!allowed.includes(name)) throw new VizError('BAD_ARGUMENT', `unknown parameter "${name}"; this endpoint takes ${allowed.join(', ') || 'none'}`);
    if (value.length > 512) throw new VizError('BAD_ARGUMENT', `parameter "${name}" is longer than 512 characters`);
    // An empty value is a parameter not given, on every endpoint alike: what an HTML form sends
    // for a field left blank, which means "the default", not a malformed value.
    if (value === '') continue;
    out[name] = value;
  }
  return out;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = err instanceof VizError ? err : new VizError('UNAVAILABLE', (err as Error)?.message ?? String(err));
  if (res.headersSent) {
    res.destroy(e);
    return;
  }
  sendJson(res, e.httpStatus, { error: { code: e.code, message: e.message } });
}
