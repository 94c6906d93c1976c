// Measures the endpoint tier alone: autocannon -> a bare node:http edge -> EndpointConnector (HTTP/1.1
// pool) -> server, against autocannon -> server, in one run. Not a test: `node bin/run.js bench/endpoint-tier.ts`.
import autocannon from 'autocannon';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import pino from 'pino';
import { EndpointConnector } from '../proxy/outbound/endpoint/connector.ts';
import type { MeshRequest } from '../proxy/http/message.ts';
import { Pool } from 'undici';
import https from 'node:https';
import { SwappableCredentials, TestPki } from '../test/proxy/outbound/endpoint/fixtures/certs.ts';

const HOST = '127.0.22.9';
const upstream = http.createServer((_req, res) => res.end('hello world'));
upstream.keepAliveTimeout = 10_000;
await new Promise<void>((r) => upstream.listen(0, HOST, r));
const upstreamAddr = `${HOST}:${(upstream.address() as AddressInfo).port}`;

const connector = new EndpointConnector({ logger: pino({ level: 'silent' }) });
const endpoint = { address: upstreamAddr, weight: 1, labels: {} };
const edge = http.createServer((req, res) => {
  const ac = new AbortController();
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'connection' && k !== 'host') headers[k] = v;
  const mreq: MeshRequest = {
    protocol: 'http/1.1', method: req.method!, scheme: 'http', authority: req.headers.host ?? '', path: req.url!, headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? null : req, signal: ac.signal,
    ctx: { id: '1', direction: 'outbound', startedAt: 0, peer: '', tls: false, grpc: false, labels: {}, retries: 0 },
  };
  connector.service(endpoint)(mreq).then(
    (r) => {
      res.writeHead(r.status, r.headers);
      if (r.body instanceof Readable) r.body.pipe(res);
      else res.end(r.body ?? undefined);
    },
    (err: Error) => { res.statusCode = 502; res.end(err.message); },
  );
});
await new Promise<void>((r) => edge.listen(0, HOST, r));
const edgeUrl = `http://${HOST}:${(edge.address() as AddressInfo).port}/`;

// The bare reference: the same edge forwarding with undici's Pool.request, no mesh types at all.
const pool = new Pool(`http://${upstreamAddr}`, { connections: 256, pipelining: 1 });
const bare = http.createServer((req, res) => {
  pool.request({ path: req.url!, method: req.method as 'GET', headers: { host: req.headers.host ?? '' } }).then(
    (r) => { res.writeHead(r.statusCode, r.headers as Record<string, string>); r.body.pipe(res); },
    (err: Error) => { res.statusCode = 502; res.end(err.message); },
  );
});
await new Promise<void>((r) => bare.listen(0, HOST, r));
const bareUrl = `http://${HOST}:${(bare.address() as AddressInfo).port}/`;

// The same edge to an mTLS server through the tier with credentials (ALPN http/1.1, identity checked).
const pki = new TestPki();
const serverLeaf = pki.leaf('spiffe://cluster.local/ns/bench/sa/server');
const tlsUpstream = https.createServer({ key: serverLeaf.key, cert: serverLeaf.cert, ca: pki.caPem, requestCert: true, ALPNProtocols: ['http/1.1'] }, (_req, res) => res.end('hello world'));
tlsUpstream.keepAliveTimeout = 10_000;
await new Promise<void>((r) => tlsUpstream.listen(0, HOST, r));
const tlsConnector = new EndpointConnector({ logger: pino({ level: 'silent' }), credentials: new SwappableCredentials(pki.leaf('spiffe://cluster.local/ns/bench/sa/client'), pki.caPem) });
const tlsEndpoint = { address: `${HOST}:8080`, inboundPort: (tlsUpstream.address() as AddressInfo).port, identity: serverLeaf.identity, weight: 1, labels: {} };
const tlsEdge = http.createServer((req, res) => {
  const mreq: MeshRequest = {
    protocol: 'http/1.1', method: req.method!, scheme: 'http', authority: req.headers.host ?? '', path: req.url!, headers: {},
    body: null, signal: new AbortController().signal,
    ctx: { id: '1', direction: 'outbound', startedAt: 0, peer: '', tls: false, grpc: false, labels: {}, retries: 0 },
  };
  tlsConnector.service(tlsEndpoint)(mreq).then(
    (r) => { res.writeHead(r.status, r.headers); if (r.body instanceof Readable) r.body.pipe(res); else res.end(r.body ?? undefined); },
    (err: Error) => { res.statusCode = 502; res.end(err.message); },
  );
});
await new Promise<void>((r) => tlsEdge.listen(0, HOST, r));
const tlsEdgeUrl = `http://${HOST}:${(tlsEdge.address() as AddressInfo).port}/`;

async function run(url: string, extra: Partial<autocannon.Options> = {}) {
  const r = await autocannon({ url, connections: 50, duration: 5, ...extra });
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}
const direct = await run(`http://${upstreamAddr}/`);
const viaTier = await run(edgeUrl);
const viaBare = await run(bareUrl);
const viaTierTls = await run(tlsEdgeUrl);
console.log(JSON.stringify({ direct, viaTier, viaBare, viaTierTls, ratio: +(viaTier.rps / direct.rps).toFixed(2), bareRatio: +(viaBare.rps / direct.rps).toFixed(2), tlsRatio: +(viaTierTls.rps / direct.rps).toFixed(2) }));
const directFixed = await run(`http://${upstreamAddr}/`, { overallRate: 1000, connections: 10 });
const tierFixed = await run(edgeUrl, { overallRate: 1000, connections: 10 });
console.log(JSON.stringify({ at1k: { direct: directFixed, viaTier: tierFixed } }));
await connector.close();
await tlsConnector.close();
pki.dispose();
edge.close();
upstream.close();
process.exit(0);
