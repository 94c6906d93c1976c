// The floor under this mesh's HTTP/1 path: a sidecar pair built from the same parts and nothing
// else. Side a: a node:http server, each request sent on by an undici Pool over mTLS to side b.
// Side b: a node:http server on TLS (client certificate required), each request sent on by an
// undici Pool to the app. Headers copied (hop-by-hop dropped), bodies streamed both ways. No
// routing, balancing, retries, timeouts, metrics, policy, tap or identity checks: what this
// costs per request is what the mesh's own transport costs before the mesh does anything.
//   node bin/run.js bench/h1-floor.ts a --listen 127.0.0.1:19500 --peer 127.0.0.1:19501 --certs DIR
//   node bin/run.js bench/h1-floor.ts b --listen 127.0.0.1:19501 --app 127.0.0.1:18080 --certs DIR
// DIR holds ca.pem, a.crt/a.key and b.crt/b.key (../shared/peer-bench's certificates).
// `--client lean` sends with the proxy's own HTTP/1 pool (proxy/outbound/endpoint/http1-pool.ts:
// Node's native parser, no undici) instead of undici's Pool (`--client undici`, the default).
// `--server lean` serves both sides with bench/h1-lean-server.ts (Node's native parser on the
// socket, no IncomingMessage/ServerResponse) instead of node:http (`--server node`, the default):
// a measurement of node:http's server side, not an edge (see that file for what it leaves out).
// `--server lean-data`: the same, its parser fed from the socket's 'data' events instead of reading
// the socket's handle itself (the first version measured; bench/NOTES.md, round 6).
// `proxy-gc` as a second argument gives V8 the settings bin/mesh.js gives a running proxy (bin/proxy-v8-flags.js).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer, TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Dispatcher } from 'undici';
import Pool from 'undici/lib/dispatcher/pool.js';
import { splitHostPort } from '../api/host-port.ts';
import { applyProxyV8Flags } from '../bin/proxy-v8-flags.js';
import { HOP_BY_HOP } from '../proxy/http/hop-by-hop.ts';
import { Http1Pool } from '../proxy/outbound/endpoint/http1-pool.ts';
import type { Http1Handler } from '../proxy/outbound/endpoint/http1-connection.ts';
import { leanHttpServer, type LeanRequest, type LeanResponse } from './h1-lean-server.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { listen: { type: 'string' }, peer: { type: 'string' }, app: { type: 'string' }, certs: { type: 'string' }, client: { type: 'string', default: 'undici' }, server: { type: 'string', default: 'node' } },
});
const side = positionals[0];
if ((side !== 'a' && side !== 'b') || (values.client !== 'undici' && values.client !== 'lean') || (values.server !== 'node' && values.server !== 'lean' && values.server !== 'lean-data') || !values.listen || !values.certs || (side === 'a' ? !values.peer : !values.app)) {
  console.error('usage: h1-floor.ts a --listen HOST:PORT --peer HOST:PORT --certs DIR [proxy-gc] | b --listen HOST:PORT --app HOST:PORT --certs DIR [proxy-gc]; either with --client undici|lean and --server node|lean|lean-data');
  process.exit(2);
}
if (positionals[1] === 'proxy-gc') {
  // Every setting bin/mesh.js gives a running proxy, from the same list (its heap growth, its young
  // generation kept at 1 MB and scavenged on the main thread, undici's llhttp parser left to V8's
  // baseline wasm compiler, which parses slower than the optimized code V8 would tier up to: a floor
  // without it would read cheaper than the mesh's transport). Set before the first connection, when
  // undici compiles the parser. (bin/mesh.js's optimizing compiler held off until start-up ends
  // changes start-up memory only.)
  applyProxyV8Flags(process.execArgv);
}
const listen = splitHostPort(values.listen, '--listen');
if (!listen.host.startsWith('127.')) throw new Error('h1-floor listens on loopback only');
const pem = (file: string) => readFileSync(join(values.certs!, file));

// A clean exit on the harness's SIGTERM, so that `--cpu-prof` writes its profile.
process.on('SIGTERM', () => process.exit(0));

/** The mesh's hop-by-hop headers (proxy/http/hop-by-hop.ts), and Host and Expect, which node:http and undici write themselves. */
const DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'host', 'expect']);

/** `--server lean` or `lean-data`: the lean server, reading the socket's handle itself or fed its 'data' events. */
const lean = values.server !== 'node';
const leanOptions = { consume: values.server === 'lean' };

/** Sends one request upstream: undici's Pool and the proxy's own pool take the same handler. */
type Upstream = { dispatch(options: { path: string; method: string; headers: string[]; body: Readable | null }, handler: Http1Handler): void };

/** What a response is written to: node:http's ServerResponse, or the lean server's (as much of it as is used here). */
interface ResponseSink {
  readonly headersSent: boolean;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  writeHead(status: number, headers?: string[]): { end(text: string): unknown };
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(err?: Error): unknown;
}

/** A bounded keep-alive pool to one upstream, its connections made by `dial`, as the mesh's Http1Client. */
function pool(upstream: string, dial: () => Socket): Upstream {
  const connect = (callback: (err: Error | null, socket: Socket | null) => void) => {
    const socket = dial();
    socket.setNoDelay(true);
    const ready = socket instanceof TLSSocket ? 'secureConnect' : 'connect';
    const failed = (err: Error) => callback(err, null);
    socket.once('error', failed);
    socket.once(ready, () => {
      socket.removeListener('error', failed);
      callback(null, socket);
    });
  };
  if (values.client === 'lean') {
    const lean = new Http1Pool({ connections: 256, idleTimeoutMs: 4000, label: upstream, connect: (cb) => connect((err, socket) => cb(err, socket ?? undefined)) });
    return { dispatch: (o, handler) => lean.dispatch({ method: o.method, path: o.path, headers: o.headers, body: o.body }, handler) };
  }
  const undici = new Pool(`http://${upstream}`, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 4000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: (_options, callback) => connect((err, socket) => (err ? callback(err, null) : callback(null, socket!))),
  });
  return { dispatch: (o, handler) => undici.dispatch(o, handler as unknown as Dispatcher.DispatchHandler) };
}

/** One request on from node:http: headers copied, the body piped, the response streamed back with its backpressure. */
function forward(upstream: Upstream, authority: string, req: IncomingMessage, res: ServerResponse): void {
  const headers: string[] = ['host', req.headers.host ?? authority];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!DROPPED.has(name)) headers.push(name, raw[i + 1]!);
  }
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  relay(upstream, { path: req.url ?? '/', method: req.method ?? 'GET', headers, body: hasBody ? req : null }, res);
  if (!hasBody) req.resume();
}

/** The same from the lean server: its head is a flat list already, and its body is null or a stream. */
function forwardLean(upstream: Upstream, authority: string, req: LeanRequest, res: LeanResponse): void {
  const headers: string[] = ['host', authority];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'host') headers[1] = raw[i + 1]!;
    else if (!DROPPED.has(name)) headers.push(name, raw[i + 1]!);
  }
  relay(upstream, { path: req.url, method: req.method, headers, body: req.body }, res);
}

/** Sends a request upstream and streams its response into `res`, with backpressure both ways. */
function relay(upstream: Upstream, options: Parameters<Upstream['dispatch']>[0], res: ResponseSink): void {
  let resume: (() => void) | undefined;
  let abort: ((err?: Error) => void) | undefined;
  let finished = false;
  res.on('close', () => {
    if (!finished) abort?.(new Error('client went away'));
  });
  res.on('drain', () => resume?.());
  const handler: Http1Handler = {
    onConnect: (a) => (abort = a),
    onHeaders: (status, rawHeaders, r) => {
      if (status < 200) return true;
      resume = r;
      const out: string[] = [];
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = text(rawHeaders[i]!).toLowerCase();
        if (!DROPPED.has(name)) out.push(name, text(rawHeaders[i + 1]!));
      }
      res.writeHead(status, out);
      return true;
    },
    onData: (chunk) => res.write(chunk),
    onReadEnd: () => {}, // nothing held back: each piece was written as it came
    onComplete: () => {
      finished = true;
      res.end();
    },
    onError: (err) => {
      finished = true;
      if (!res.headersSent) res.writeHead(502).end(err.message);
      else res.destroy(err);
    },
  };
  upstream.dispatch(options, handler);
}

/** A raw header as text: undici gives Buffers, Node's parser strings. */
function text(raw: string | Buffer): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

if (side === 'a') {
  const peer = splitHostPort(values.peer!, '--peer');
  // One context for every connection, as the mesh's dial does.
  const secureContext = createSecureContext({ ca: pem('ca.pem'), cert: pem('a.crt'), key: pem('a.key'), minVersion: 'TLSv1.3' });
  const upstream = pool(values.peer!, () => tlsConnect({ host: peer.host, port: peer.port, secureContext, servername: 'sidecar-b.mesh.local', ALPNProtocols: ['http/1.1'] }));
  // As http.createServer: Nagle off; half-open, so a client that sends its FIN after a request still gets the answer.
  const server =
    lean
      ? createNetServer({ noDelay: true, allowHalfOpen: true }, leanHttpServer((req, res) => forwardLean(upstream, values.peer!, req, res), leanOptions))
      : createServer((req, res) => forward(upstream, values.peer!, req, res));
  server.listen(listen.port, listen.host, () => console.log(`h1-floor a ${values.listen} -> mTLS ${values.peer} (${values.server} server)`));
} else {
  const app = splitHostPort(values.app!, '--app');
  const upstream = pool(values.app!, () => netConnect(app.port, app.host));
  const serve: (socket: Socket) => void =
    lean
      ? leanHttpServer((req, res) => forwardLean(upstream, values.app!, req, res), leanOptions)
      : ((http) => (socket: Socket) => http.emit('connection', socket))(createServer((req, res) => forward(upstream, values.app!, req, res)));
  const server = createTlsServer({ ca: pem('ca.pem'), cert: pem('b.crt'), key: pem('b.key'), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'] });
  server.on('secureConnection', serve);
  server.on('tlsClientError', () => {}); // a refused client is the test's business, not the floor's
  server.listen(listen.port, listen.host, () => console.log(`h1-floor b ${values.listen} -> ${values.app} (${values.server} server)`));
}
