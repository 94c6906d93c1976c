// App servers for data-path tests: an HTTP/1.1 app and an HTTP/2 (h2c) app on a pod address,
// each answering by path so one server covers many cases.
import { createServer as createHttp1, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2, type Http2Server, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface App<S> {
  server: S;
  port: number;
  close(): Promise<void>;
}

/** Bytes of `n` length, streamed in 64 KiB chunks without holding them all. */
export function* chunks(n: number, size = 64 * 1024): Generator<Buffer> {
  const block = Buffer.alloc(size, 'x');
  for (let sent = 0; sent < n; sent += size) yield n - sent >= size ? block : block.subarray(0, n - sent);
}

/** The HTTP/1.1 app, counting the connections it accepted. */
export type Http1App = App<Server> & { connections: number };

/**
 * Paths: `/echo` streams the body back; `/count` answers the body's length; `/size/<n>` sends n bytes;
 * `/status/<code>`; `/headers` answers the request's raw headers as JSON; `/trailers` sends chunked
 * with a trailer; `/reset` sends half a body then destroys the socket; `/slow/<ms>` answers late.
 */
export async function startHttp1App(host: string): Promise<Http1App> {
  const app = { connections: 0 } as Http1App;
  const server = createHttp1({ maxHeaderSize: 128 * 1024 }, (req, res) => handle(req, res));
  server.on('connection', () => app.connections++);
  await new Promise<void>((r) => server.listen(0, host, r));
  app.server = server;
  app.port = (server.address() as AddressInfo).port;
  app.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return app;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const [, first, arg] = url.split('?')[0]!.split('/');
  switch (first) {
    case 'echo':
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-method': req.method });
      req.pipe(res);
      return;
    case 'count': {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(JSON.stringify({ bytes: n, trailers: req.trailers, method: req.method })));
      return;
    }
    case 'size': {
      const n = Number(arg);
      res.writeHead(200, { 'content-length': n });
      const it = chunks(n);
      const pump = () => {
        for (let next = it.next(); !next.done; next = it.next()) if (!res.write(next.value)) return void res.once('drain', pump);
        res.end();
      };
      pump();
      return;
    }
    case 'status':
      res.writeHead(Number(arg), { 'x-status': arg, etag: '"v1"' });
      res.end(Number(arg) === 204 || Number(arg) === 304 ? undefined : `status ${arg}`);
      return;
    case 'headers':
      req.resume();
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-multi', ['one', 'two']);
      res.end(JSON.stringify({ raw: req.rawHeaders, method: req.method, url }));
      return;
    case 'trailers':
      req.resume();
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('part one,');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('part two');
      return;
    case 'reset':
      req.resume();
      res.writeHead(200, { 'content-length': 1000 });
      res.write('x'.repeat(100), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    case 'slow':
      req.resume();
      setTimeout(() => res.end('slow done'), Number(arg));
      return;
    default:
      req.resume();
      res.end(`hello ${req.method} ${url}`);
  }
}

/** h2c app: `/echo` echoes body and trailers; `/size/<n>`; `/rst` resets mid-response; anything else says hello. */
export async function startH2App(host: string): Promise<App<Http2Server> & { sessions: number }> {
  const app = { sessions: 0 } as App<Http2Server> & { sessions: number };
  const server = createH2();
  server.on('session', (s) => {
    app.sessions++;
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => handleH2(stream, headers));
  await new Promise<void>((r) => server.listen(0, host, r));
  app.server = server;
  app.port = (server.address() as AddressInfo).port;
  app.close = () => new Promise((r) => server.close(() => r()));
  return app;
}

function handleH2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => {});
  const path = headers[':path'] ?? '/';
  const [, first, arg] = path.split('/');
  if (first === 'echo') {
    let trailers: IncomingHttpHeaders | undefined;
    stream.once('trailers', (t) => (trailers = t));
    stream.respond(
      { ':status': 200, 'x-seen-authority': String(headers[':authority']), 'x-seen-client-id': String(headers['l5d-client-id'] ?? 'none') },
      { waitForTrailers: true },
    );
    stream.once('wantTrailers', () => stream.sendTrailers({ 'x-echo-trailer': String(trailers?.['x-request-trailer'] ?? 'none') }));
    stream.pipe(stream);
    return;
  }
  stream.resume();
  if (first === 'rst') {
    // Half a response, then a reset: what a crashing upstream looks like.
    stream.respond({ ':status': 200 });
    stream.write('partial', () => setTimeout(() => stream.destroy(new Error('app crashed mid-response')), 20));
    return;
  }
  if (first === 'size') {
    stream.respond({ ':status': 200 });
    const it = chunks(Number(arg));
    const pump = () => {
      for (let next = it.next(); !next.done; next = it.next()) if (!stream.write(next.value)) return void stream.once('drain', pump);
      stream.end();
    };
    pump();
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(`h2 hello ${headers[':method']} ${path}`);
}
