// The dashboard's HTTP server (127.0.0.1:8084, DESIGN.md), inside the viz process: the page and
// its bundled assets, the viz API's own handlers on the same origin (so tap runs with the viz's
// identity, never the browser's), the live feed over SSE, and "send a checkout". Every answer
// carries a Content-Security-Policy that allows no inline script and nothing from elsewhere.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { codedError } from '../../api/errors.ts';
import { VizError } from '../errors.ts';
import { sendError, sendJson } from '../api/http.ts';
import type { Handler } from '../api/server.ts';
import type { VizContext } from '../viz.ts';
import { buildAssets, type Asset } from './assets.ts';
import { sendCheckout } from './checkout.ts';
import { LiveFeed } from './feed.ts';
import { joinHostPort, splitHostPort } from '../../api/host-port.ts';

export interface DashboardOptions {
  /** `host:port`; 127.0.0.1:8084 unless told otherwise. */
  listen: string;
  /** The viz API's handlers, by path. */
  api: Record<string, Handler>;
  ctx: VizContext;
  /** The demo's front door, for "send a checkout"; absent: the page offers none. */
  ingressUrl?: string;
  logger: Logger;
}

export interface RunningDashboard {
  address: string;
  /** Set when the dashboard listens beyond loopback: say so where people look. */
  warning?: string;
  close(): Promise<void>;
}

export class DashboardListenError extends codedError('DASHBOARD_LISTEN') {}

/** No inline script or style element, no other origin, no plugins, no framing. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);

export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const assets = await buildAssets();
  const feed = new LiveFeed(opts.ctx, opts.ingressUrl !== undefined);
  let host: string;
  let port: number;
  try {
    ({ host, port } = splitHostPort(opts.listen, '--dashboard'));
  } catch (err) {
    throw new DashboardListenError((err as Error).message, { cause: err });
  }
  const loopbackOnly = isLoopback(host);
  let sending = 0;

  const server: Server = createServer((req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    // On loopback, a page from elsewhere could reach us through a name that resolves to
    // 127.0.0.1 (DNS rebinding): answer only requests that name a loopback host.
    const named = hostOf(req);
    if (loopbackOnly && !(named && isLoopback(named))) {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end('the dashboard answers only to 127.0.0.1 or localhost\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'POST' && path === '/dashboard/v1/checkout') {
      void checkout(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, new VizError('BAD_ARGUMENT', `${req.method} ${path}: the dashboard takes GET (and POST /dashboard/v1/checkout)`));
      return;
    }
    if (path === '/dashboard/v1/live') {
      feed.subscribe(res);
      return;
    }
    const handler = opts.api[path];
    if (handler) {
      handler(req, res).catch((err: unknown) => {
        if (!(err instanceof VizError)) opts.logger.error({ err, path }, 'dashboard: viz API handler failed');
        sendError(res, err);
      });
      return;
    }
    // Every page is the one document; the script reads the route from the location's hash.
    const asset: Asset | undefined = assets.get(path === '/index.html' ? '/' : path);
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`no such page ${path}; the dashboard is at /\n`);
      return;
    }
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  });

  async function checkout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    // A form on another site cannot set this header, and a script there cannot without our CORS consent.
    if (req.headers['x-mesh-dashboard'] !== '1') {
      sendError(res, new VizError('BAD_ARGUMENT', 'POST /dashboard/v1/checkout needs the header x-mesh-dashboard: 1 (the dashboard page sends it)'));
      return;
    }
    if (!opts.ingressUrl) {
      sendError(res, new VizError('NOT_FOUND', 'this viz was not told where the front door is (mesh viz serve --ingress-url URL)'));
      return;
    }
    if (sending >= 4) {
      sendError(res, new VizError('BAD_ARGUMENT', 'four checkouts are on their way already; wait for one to answer'));
      return;
    }
    sending++;
    try {
      sendJson(res, 200, await sendCheckout(opts.ingressUrl));
    } catch (err) {
      sendError(res, new VizError('UNAVAILABLE', `the checkout to ${opts.ingressUrl} failed: ${(err as Error).message}`));
    } finally {
      sending--;
    }
  }

  server.requestTimeout = 0; // the live feed and tap stream for as long as a page is open
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new DashboardListenError(`dashboard: cannot listen on ${opts.listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? joinHostPort(host, bound.port) : opts.listen;
  const warning = loopbackOnly ? undefined
    : `the dashboard listens on ${address}, beyond this machine's loopback: anyone who can reach it sees the mesh's traffic (tap) and can send checkouts`;
  if (warning) opts.logger.warn({ address }, warning);
  return {
    address,
    warning,
    close: () => new Promise<void>((resolve) => {
      feed.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** The host the request names (Host header, without the port), lower-case; undefined when malformed. */
function hostOf(req: IncomingMessage): string | undefined {
  const header = req.headers.host;
  if (!header) return undefined;
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(header);
  if (bracketed) return isIP(bracketed[1]!) === 6 ? bracketed[1] : undefined;
  return header.replace(/:\d+$/, '').toLowerCase();
}
