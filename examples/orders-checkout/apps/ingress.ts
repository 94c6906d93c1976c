// ingress: the demo's front door. Like an ingress controller in a cluster (nginx with a Linkerd
// sidecar), it accepts users' HTTP on INGRESS_LISTEN and forwards every request to checkout
// through its own sidecar, which gives the hop mTLS and the ingress identity. Bodies stream.
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { appEnv, isMain, runMain } from './app-env.ts';

// Hop-by-hop headers belong to one connection and are not forwarded (RFC 9110 7.6.1).
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'host']);

function forwardable(headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !hopByHop.has(k.toLowerCase())) out[k] = v;
  return out;
}

export async function startIngress(opts: { host: string; port: number; upstream: string; log: Logger }) {
  const dispatcher: Dispatcher = new EnvHttpProxyAgent({ proxyTunnel: false, keepAliveTimeout: 4000 });
  const server = http.createServer((req, res) => {
    const forward = async () => {
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      const upstream = await request(`${opts.upstream}${req.url ?? '/'}`, {
        method: req.method as Dispatcher.HttpMethod, dispatcher,
        headers: { ...forwardable(req.headers), 'x-forwarded-for': req.socket.remoteAddress ?? '' },
        body: hasBody ? req : undefined,
        headersTimeout: 30_000, bodyTimeout: 30_000,
      });
      res.writeHead(upstream.statusCode, forwardable(upstream.headers));
      await pipeline(upstream.body, res);
    };
    forward().catch((err: unknown) => {
      opts.log.warn({ method: req.method, url: req.url, err: (err as Error).message }, 'forwarding to checkout failed');
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `ingress: ${(err as Error).message}` }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve((server.address() as { port: number }).port));
  });
  return {
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await dispatcher.close();
    },
  };
}

if (isMain(import.meta.url)) {
  runMain('ingress', async () => {
    const env = appEnv('ingress');
    const listen = process.env.INGRESS_LISTEN || '127.0.0.1:8000';
    const i = listen.lastIndexOf(':');
    const upstream = process.env.INGRESS_UPSTREAM || 'http://checkout.production.svc.cluster.local:8080';
    await startIngress({ host: listen.slice(0, i), port: Number(listen.slice(i + 1)), upstream, log: env.log });
    env.log.info({ listen, upstream }, 'ingress forwarding to checkout through its sidecar');
  });
}
