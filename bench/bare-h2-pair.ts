// The floor for HTTP/2 through two Node proxies: a forwarder that does nothing else, run as a
// pair beside the mesh by mode h2. Side `a` serves h2c and sends each stream over ONE mTLS
// HTTP/2 session to side `b`, which sends it over ONE h2c session to the app; bodies and
// responses go through `pipe`, as a plain node:http2 forwarder writes it.
// Usage: bare-h2-pair.ts a|b LISTEN_HOST:PORT PEER_HOST:PORT CERT_DIR [proxy-gc]
// (CERT_DIR holds a.crt/a.key, b.crt/b.key). `proxy-gc`: the V8 settings bin/mesh.js gives a running
// proxy (bin/proxy-v8-flags.js: 1 MB semi-spaces that do not grow, scavenged on the main thread, a
// 20% heap-growing factor, baseline-only wasm), for a like-for-like floor.
import { readFileSync } from 'node:fs';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { splitHostPort } from '../api/host-port.ts';
import { applyProxyV8Flags } from '../bin/proxy-v8-flags.js';

const [side, listen, peer, certs, gc] = process.argv.slice(2) as [string, string, string, string, string | undefined];
if (gc === 'proxy-gc') applyProxyV8Flags(process.execArgv);
const { host, port } = splitHostPort(listen, 'LISTEN_HOST:PORT');
const file = (name: string) => readFileSync(join(certs, name));
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);
const endToEnd = (h: IncomingHttpHeaders): OutgoingHttpHeaders => {
  const out: OutgoingHttpHeaders = {};
  for (const k in h) if (k[0] !== ':' && !HOP.has(k)) out[k] = h[k];
  return out;
};

let session: ClientHttp2Session | undefined;
const upstream = (): ClientHttp2Session => {
  if (session && !session.closed && !session.destroyed) return session;
  const s =
    side === 'a'
      ? http2.connect(`https://${peer}`, { ca: file('b.crt'), cert: file('a.crt'), key: file('a.key'), servername: 'bare-b' })
      : http2.connect(`http://${peer}`);
  s.on('error', () => {});
  s.on('close', () => session === s && (session = undefined));
  return (session = s);
};

const server = side === 'a' ? http2.createServer() : http2.createSecureServer({ ca: file('a.crt'), cert: file('b.crt'), key: file('b.key'), requestCert: true, rejectUnauthorized: true });
server.on('stream', (stream, h, flags) => {
  const headers = { ...endToEnd(h), ':method': h[':method'], ':path': h[':path'], ':authority': h[':authority'], ':scheme': 'http' };
  const ended = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
  const up = upstream().request(headers, { endStream: ended });
  up.on('response', (rh) => {
    if (stream.destroyed) return;
    stream.respond({ ...endToEnd(rh), ':status': rh[':status'] });
    up.pipe(stream);
  });
  up.on('error', () => !stream.destroyed && stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  stream.on('error', () => {});
  stream.on('close', () => !up.closed && up.close(http2.constants.NGHTTP2_CANCEL));
  if (!ended) stream.pipe(up);
});
server.on('sessionError', () => {});
// The new space's size at start says whether the flags came in time (tsx loads this file first).
const newSpace = () => (getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20;
server.listen(port, host, () => console.log(`bare h2 ${side}: ${listen} -> ${peer}${gc ? ` (${gc}; new space ${newSpace().toFixed(1)} MB)` : ''}`));
if (gc) process.on('SIGTERM', () => console.log(`new space at exit ${newSpace().toFixed(1)} MB`));
process.on('SIGTERM', () => process.exit(0));
