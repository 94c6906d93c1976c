// The streaming endpoints of the viz API: tap (every event, as it happens) and top (a table
// folded from tap, once a second). NDJSON by default; SSE when the client accepts
// text/event-stream (a browser's EventSource). The stream ends with an `end` line, or when
// the client goes away, which stops every proxy's tap at once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VizError } from '../errors.ts';
import { selectPods, TapFanIn, type TapLine } from '../tap/fan-in.ts';
import { parseTapFilter } from '../tap/filter.ts';
import { TopTable } from '../tap/top.ts';
import type { VizContext } from '../viz.ts';
import { namespaceOf, resolved } from './handlers.ts';
import { queryOf } from './http.ts';
import type { Handler } from './server.ts';

const TAP_PARAMS = ['resource', 'namespace', 'to', 'toNamespace', 'method', 'path', 'authority', 'maxRps', 'limit', 'duration', 'journey'] as const;

/** Bytes a slow reader may leave unread before events are dropped (and counted) instead of queued. */
const MAX_BUFFERED = 1024 * 1024;

/** Writes lines as NDJSON or SSE; false when the reader is too far behind and the line was dropped. */
function lineWriter(req: IncomingMessage, res: ServerResponse): (kind: string, body: unknown) => boolean {
  const sse = (req.headers.accept ?? '').includes('text/event-stream');
  res.writeHead(200, {
    'content-type': sse ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.flushHeaders();
  return (kind, body) => {
    if (res.writableLength > MAX_BUFFERED && kind === 'event') return false;
    const json = JSON.stringify(body);
    res.write(sse ? `event: ${kind}\ndata: ${json}\n\n` : `${json}\n`);
    return true;
  };
}

/** Parses the tap parameters, picks the pods and opens the fan-in; errors before any byte is sent. */
function openFanIn(ctx: VizContext, req: IncomingMessage, emit: (line: TapLine) => boolean, extra: readonly string[] = []): TapFanIn {
  const q = queryOf(req, [...TAP_PARAMS, ...extra]);
  const parsed = parseTapFilter(q, (resource) => namespaceOf(ctx, resource.name));
  const filter = { ...parsed, resource: resolved(ctx, parsed.resource, parsed.namespace), to: parsed.to && resolved(ctx, parsed.to, parsed.toNamespace) };
  const { targets, skipped } = selectPods(filter, [...ctx.scraper.proxies.values()]);
  const podsByIp = new Map(ctx.pods.current().map((p) => [p.ip, p]));
  return new TapFanIn({ filter, targets, skipped, podsByIp, credentials: ctx.options.credentials, tapPort: ctx.options.tapPort, emit });
}

export function tapHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    let write: ((kind: string, body: unknown) => boolean) | undefined;
    const fanIn = openFanIn(ctx, req, (line) => {
      write ??= lineWriter(req, res);
      return write(line.type, line);
    });
    res.on('close', () => fanIn.cancel());
    await fanIn.done;
    res.end();
  };
}

export function topHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const table = new TopTable();
    let write: ((kind: string, body: unknown) => boolean) | undefined;
    let last: TapLine | undefined;
    const fanIn = openFanIn(ctx, req, (line) => {
      write ??= lineWriter(req, res);
      if (line.type === 'event') table.add(line);
      else if (line.type === 'end') last = line;
      else write(line.type, line); // start and errors go straight through
      return true;
    });
    const tick = setInterval(() => write?.('top', { type: 'top', rows: table.snapshot() }), 1_000);
    res.on('close', () => {
      clearInterval(tick);
      fanIn.cancel();
    });
    await fanIn.done;
    clearInterval(tick);
    if (!write) throw new VizError('TAP_FAILED', 'the tap ended before it began');
    write('top', { type: 'top', rows: table.snapshot() });
    if (last) write('end', last);
    res.end();
  };
}
