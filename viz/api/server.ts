// The viz API on HTTP (127.0.0.1:8085 by default): JSON for stat, routes, edges and pods, and
// streams (NDJSON, or SSE for a browser's EventSource) for tap and top. api/viz.md documents it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VizError } from '../errors.ts';
import { sendError } from './http.ts';
import { joinHostPort, splitHostPort } from '../../api/host-port.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface VizHttpServer {
  server: Server;
  /** The bound `host:port`. */
  address: string;
  close(): Promise<void>;
}

export async function startVizHttp(listen: string, routes: Record<string, Handler>, logger: Logger): Promise<VizHttpServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = routes[path];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, new VizError('BAD_ARGUMENT', `${req.method} ${path}: the viz API is read-only (GET)`));
      return;
    }
    if (!handler) {
      sendError(res, new VizError('NOT_FOUND', `no such endpoint ${path}; the viz API has ${Object.keys(routes).join(', ')}`));
      return;
    }
    handler(req, res).catch((err: unknown) => {
      if (!(err instanceof VizError)) logger.error({ err, path }, 'viz API handler failed');
      sendError(res, err);
    });
  });
  // Streams (tap, top) live for minutes; keep-alive and header timeouts stay short for the rest.
  server.requestTimeout = 0;
  server.headersTimeout = 10_000;
  const { host, port } = splitHostPort(listen, 'viz --listen');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`viz: cannot listen on ${listen}: ${(err as Error).message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? joinHostPort(host, bound.port) : listen;
  return {
    server,
    address,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
