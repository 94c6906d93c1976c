// CPU microseconds per request through the endpoint tier vs a bare undici forwarder, same process
// and same load generator (less sensitive to a busy machine than req/s). `node bin/run.js bench/endpoint-cpu.ts`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import pino from 'pino';
import { Pool } from 'undici';
import type { MeshRequest } from '../proxy/http/message.ts';
import { EndpointConnector } from '../proxy/outbound/endpoint/connector.ts';

const HOST = '127.0.22.10';
const listen = async (s: http.Server) => { await new Promise<void>((r) => s.listen(0, HOST, r)); return `http://${HOST}:${(s.address() as AddressInfo).port}`; };
const upstream = http.createServer((_q, s) => s.end('hello world'));
upstream.keepAliveTimeout = 10_000;
const upstreamUrl = await listen(upstream);
const endpoint = { address: upstreamUrl.slice(7), weight: 1, labels: {} };
const connector = new EndpointConnector({ logger: pino({ level: 'silent' }) });

const tier = http.createServer((req, res) => {
  const mreq: MeshRequest = {
    protocol: 'http/1.1', method: req.method!, scheme: 'http', authority: req.headers.host ?? '', path: req.url!, headers: {}, body: null, signal: new AbortController().signal,
    ctx: { id: '1', direction: 'outbound', startedAt: 0, peer: '', tls: false, grpc: false, labels: {}, retries: 0 },
  };
  connector.service(endpoint)(mreq).then((r) => { res.writeHead(r.status, r.headers); r.body instanceof Readable ? r.body.pipe(res) : res.end(r.body ?? undefined); }, () => { res.statusCode = 502; res.end(); });
});
const pool = new Pool(upstreamUrl, { connections: 256 });
const bare = http.createServer((req, res) => {
  pool.request({ path: req.url!, method: 'GET', headers: { host: req.headers.host ?? '' }, signal: new AbortController().signal }).then((r) => { res.writeHead(r.statusCode, r.headers as Record<string, string>); r.body.pipe(res); }, () => { res.statusCode = 502; res.end(); });
});
const urls = { tier: await listen(tier), bare: await listen(bare) };

async function load(url: string, n: number): Promise<void> {
  const client = new Pool(url, { connections: 50 });
  let left = n;
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (left-- > 0) { const r = await client.request({ path: '/', method: 'GET' }); await r.body.text(); }
  }));
  await client.close();
}
// ONLY=tier (or bare) runs one side, e.g. under --cpu-prof.
const sides = (['tier', 'bare'] as const).filter((side) => !process.env.ONLY || process.env.ONLY === side);
for (let round = 0; round < 3; round++) {
  for (const name of sides) {
    await load(urls[name], 2000);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await load(urls[name], 20000);
    const cpu = process.cpuUsage(c0);
    console.log(JSON.stringify({ round, name, cpuUsPerReq: +((cpu.user + cpu.system) / 20000).toFixed(1), wallMs: Math.round(performance.now() - t0) }));
  }
}
process.exit(0);
