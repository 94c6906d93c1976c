// A minimal in-test proxy edge: real node:http / node:http2 listeners that turn wire requests
// into MeshRequests, run a Service, and write the MeshResponse back; plus real upstream clients.
// Enough to put the metrics layer on real traffic before the full proxy exists.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { pipeline, PassThrough } from 'node:stream';
import { request } from 'undici';
import { asProxyError } from '../../proxy/errors.ts';
import { endToEndHeaders } from '../../proxy/http/hop-by-hop.ts';
import { isGrpc, type HeaderMap, type MeshRequest, type Service } from '../../proxy/http/message.ts';

let nextId = 0;

function meshRequest(
  protocol: 'http/1.1' | 'h2',
  method: string,
  authority: string,
  path: string,
  headers: HeaderMap,
  body: MeshRequest['body'],
  signal: AbortSignal,
  peer: string,
): MeshRequest {
  return {
    protocol,
    method,
    scheme: 'http',
    authority,
    path,
    headers,
    body,
    signal,
    ctx: {
      id: String(++nextId),
      direction: 'inbound',
      startedAt: performance.now(),
      peer,
      tls: false,
      grpc: isGrpc(headers['content-type']),
      labels: {},
      retries: 0,
    },
  };
}

/** HTTP/1.1 edge on host:0. */
export async function http1Edge(host: string, service: Service): Promise<{ server: Server; origin: string }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const headers = endToEndHeaders(req.headers);
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const mreq = meshRequest('http/1.1', req.method!, req.headers.host ?? '', req.url!, headers, hasBody ? req : null, abort.signal, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    if (!hasBody) req.resume();
    service(mreq).then(
      (mres) => {
        res.writeHead(mres.status, mres.headers as Record<string, string | string[]>);
        if (!mres.body) return res.end();
        pipeline(mres.body, res, () => {});
      },
      (err: unknown) => {
        const e = asProxyError(err);
        res.writeHead(e.httpStatus, { 'l5d-proxy-error': e.message }).end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, origin: `http://${host}:${(server.address() as AddressInfo).port}` };
}

/** HTTP/2 (h2c) edge on host:0, with trailers, for gRPC-shaped traffic. */
export async function h2Edge(host: string, service: Service): Promise<{ server: http2.Http2Server; origin: string }> {
  const server = http2.createServer();
  server.on('stream', (stream, rawHeaders) => {
    stream.on('error', () => {});
    const abort = new AbortController();
    stream.once('close', () => abort.abort());
    const headers = endToEndHeaders(rawHeaders);
    const mreq = meshRequest('h2', String(rawHeaders[':method']), String(rawHeaders[':authority']), String(rawHeaders[':path']), headers, stream, abort.signal, 'h2-peer');
    service(mreq).then(
      async (mres) => {
        if (!mres.body && !mres.trailers) return stream.respond({ ':status': mres.status, ...mres.headers }, { endStream: true });
        stream.respond({ ':status': mres.status, ...mres.headers }, { waitForTrailers: true });
        stream.once('wantTrailers', async () => {
          const trailers = (await mres.trailers) ?? {};
          stream.sendTrailers(trailers);
        });
        if (mres.body) pipeline(mres.body, stream, () => {});
        else stream.end();
      },
      (err: unknown) => {
        const e = asProxyError(err);
        if (mreq.ctx.grpc) stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(e.grpcStatus) }, { endStream: true });
        else stream.respond({ ':status': e.httpStatus, 'l5d-proxy-error': e.message }, { endStream: true });
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, origin: `http://${host}:${(server.address() as AddressInfo).port}` };
}

/** An upstream HTTP/1.1 client (undici) as a Service. */
export function http1Upstream(origin: string): Service {
  return async (req) => {
    const res = await request(origin + req.path, {
      method: req.method as 'GET',
      headers: req.headers,
      body: req.body ?? undefined,
      signal: req.signal,
    });
    return { status: res.statusCode, headers: endToEndHeaders(res.headers), body: res.body, trailers: Promise.resolve(undefined) };
  };
}

/** An upstream HTTP/2 client as a Service: streams the body, resolves trailers after it. */
export function h2Upstream(origin: string): { service: Service; close: () => void } {
  const session = http2.connect(origin);
  session.on('error', () => {});
  const service: Service = (req) =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':method': req.method, ':path': req.path, ':authority': req.authority, ...req.headers });
      stream.on('error', reject);
      if (req.body) pipeline(req.body, stream, () => {});
      else stream.end();
      let trailersResolve: (t: HeaderMap | undefined) => void;
      const trailers = new Promise<HeaderMap | undefined>((r) => (trailersResolve = r));
      stream.once('trailers', (t) => trailersResolve(endToEndHeaders(t)));
      stream.once('close', () => trailersResolve(undefined));
      stream.once('response', (headers) => {
        const body = new PassThrough();
        pipeline(stream, body, () => {});
        resolve({ status: Number(headers[':status']), headers: endToEndHeaders(headers), body, trailers });
      });
    });
  return { service, close: () => session.close() };
}
