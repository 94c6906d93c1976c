// Golden metrics end to end: after exactly N requests of known outcomes through an outbound and an
// inbound proxy, BOTH proxies' /metrics say exactly that; and connection sharing between the
// proxies, read from the tcp metrics of both sides.
import * as grpc from '@grpc/grpc-js';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus, type Sample } from '../../../api/prom-text.ts';
import { sumOf } from '../../../api/prom-samples.ts';
import { startHttp1App } from '../../helpers/apps.ts';
import { echoClient, startGrpcEcho, type EchoApp } from '../../helpers/grpc-echo.ts';
import { testPki } from '../../helpers/pki.ts';
import { startTwoProxies, type ProxyHandle, type TwoProxies } from '../../helpers/two-proxies.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const WEB = 'web.counts.svc.cluster.local:8080';
const GRPC = 'echo.counts.svc.cluster.local:9090';
const NOT_FOUND = 5;

interface Mesh {
  mesh: TwoProxies;
  close(): Promise<void>;
}

async function startMesh(clientIp: string, serverIp: string, opts: { mtls?: boolean; args?: string[] } = {}): Promise<Mesh & { clientId?: string; serverId?: string }> {
  const web = await startHttp1App(serverIp);
  const echo: EchoApp = await startGrpcEcho(serverIp);
  let mtls;
  if (opts.mtls) {
    const pki = await testPki();
    mtls = { client: await pki.credentialsFor('counts/client'), server: await pki.credentialsFor('counts/server') };
  }
  const mesh = await startTwoProxies({
    clientIp,
    serverIp,
    services: [
      { authority: WEB, port: web.port },
      { authority: GRPC, port: echo.port },
    ],
    args: opts.args,
    mtls,
  });
  return {
    mesh,
    clientId: mtls?.client.identity,
    serverId: mtls?.server.identity,
    async close() {
      await mesh.close();
      await web.close();
      await echo.close();
    },
  };
}

const scrape = async (p: ProxyHandle): Promise<Sample[]> => parsePrometheus(await p.metrics());

function unary(client: grpc.Client & Record<string, Function>, text: string, failCode = 0): Promise<grpc.status> {
  return new Promise((resolve) =>
    client.Unary({ text, failCode }, (err: grpc.ServiceError | null) => resolve(err ? err.code : grpc.status.OK)),
  );
}

for (const tls of [false, true]) {
  describe(`exact counts on both proxies (${tls ? 'mTLS' : 'cleartext'} between them)`, () => {
    let m: Awaited<ReturnType<typeof startMesh>>;
    beforeAll(async () => {
      m = tls ? await startMesh(`${NET}.32`, `${NET}.33`, { mtls: true }) : await startMesh(`${NET}.30`, `${NET}.31`);
    });
    afterAll(async () => m?.close());

    it('7 x 200, 3 x 500, 2 gRPC NOT_FOUND and 1 gRPC OK are counted exactly, by both proxies', async () => {
      const client = new Client(m.mesh.proxyUrl);
      for (const status of [...Array(7).fill(200), ...Array(3).fill(500)]) {
        const res = await client.request({ path: `/status/${status}`, method: 'GET', headers: { host: WEB } });
        expect(res.statusCode).toBe(status);
        await res.body.text();
      }
      await client.close();
      const echo = echoClient(`${m.mesh.outbound.host}:${m.mesh.outbound.port}`, GRPC);
      expect(await unary(echo, 'missing-1', NOT_FOUND)).toBe(NOT_FOUND);
      expect(await unary(echo, 'missing-2', NOT_FOUND)).toBe(NOT_FOUND);
      expect(await unary(echo, 'found')).toBe(grpc.status.OK);
      echo.close();

      for (const side of ['outbound', 'inbound'] as const) {
        const d = { direction: side };
        const web = { ...d, authority: WEB };
        const rpc = { ...d, authority: GRPC };
        // Responses are counted when their stream ends, which may trail the client by a tick.
        await expect.poll(async () => sumOf(await scrape(m.mesh[side]), 'response_total', d), { timeout: 5000 }).toBe(13);
        const s = await scrape(m.mesh[side]);
        const at = `${side} proxy`;
        expect(sumOf(s, 'request_total', web), `${at}: HTTP requests`).toBe(10);
        expect(sumOf(s, 'request_total', rpc), `${at}: gRPC requests`).toBe(3);
        expect(sumOf(s, 'response_total', { ...web, status_code: '200', classification: 'success', grpc_status: null }), `${at}: 200s`).toBe(7);
        expect(sumOf(s, 'response_total', { ...web, status_code: '500', classification: 'failure', grpc_status: null }), `${at}: 500s`).toBe(3);
        expect(sumOf(s, 'response_total', { ...rpc, status_code: '200', grpc_status: '5', classification: 'failure' }), `${at}: NOT_FOUND`).toBe(2);
        expect(sumOf(s, 'response_total', { ...rpc, status_code: '200', grpc_status: '0', classification: 'success' }), `${at}: OK`).toBe(1);
        expect(sumOf(s, 'response_total', { ...d, error: null }), `${at}: no proxy errors`).toBe(13);
        expect(sumOf(s, 'response_latency_ms_count', d), `${at}: latency observations`).toBe(13);
        expect(sumOf(s, 'response_latency_ms_bucket', { ...d, le: '50000' }), `${at}: latency +Inf bucket`).toBe(13);
        if (tls && side === 'inbound') {
          expect(sumOf(s, 'response_total', { ...d, tls: 'true', client_id: m.clientId! }), `${at}: caller identity`).toBe(13);
          expect(sumOf(s, 'tcp_open_total', { ...d, peer: 'src', tls: 'true', client_id: m.clientId! })).toBeGreaterThanOrEqual(1);
        }
        if (tls && side === 'outbound') {
          expect(sumOf(s, 'tcp_open_total', { ...d, peer: 'dst', tls: 'true', server_id: m.serverId! }), `${at}: mTLS connections to the server`).toBeGreaterThanOrEqual(1);
          expect(sumOf(s, 'tcp_open_total', { ...d, peer: 'dst', tls: 'false' }), `${at}: no cleartext hop`).toBe(0);
        }
        if (!tls) expect(sumOf(s, 'tcp_open_total', { ...d, tls: 'true' }), `${at}: no TLS in cleartext mode`).toBe(0);
      }
    });
  });
}

describe('connections between the proxies, from both proxies\' tcp metrics', () => {
  const POOL = 8;
  let m: Mesh;
  beforeAll(async () => {
    m = await startMesh(`${NET}.34`, `${NET}.35`, { args: ['--http1-pool-size', String(POOL)] });
  });
  afterAll(async () => m?.close());

  const opens = async (p: ProxyHandle, direction: string, peer: string) => sumOf(await scrape(p), 'tcp_open_total', { direction, peer });

  it('50 concurrent gRPC client connections make exactly one connection between the proxies', async () => {
    const { outbound, inbound } = m.mesh;
    expect(await opens(outbound, 'outbound', 'dst')).toBe(0);
    expect(await opens(inbound, 'inbound', 'src')).toBe(0);
    // A distinct channel option per client makes grpc-js open a connection per client.
    const clients = Array.from({ length: 50 }, (_, i) =>
      echoClient(`${outbound.host}:${outbound.port}`, GRPC, { 'grpc.use_local_subchannel_pool': 1, 'counts.client': i }),
    );
    try {
      const codes = await Promise.all(clients.map((c, i) => unary(c, `c${i}`)));
      expect(codes.every((c) => c === grpc.status.OK)).toBe(true);
      expect(await opens(outbound, 'outbound', 'src')).toBeGreaterThanOrEqual(50);
      expect(await opens(outbound, 'outbound', 'dst')).toBe(1);
      expect(await opens(inbound, 'inbound', 'src')).toBe(1);
      const live = await scrape(inbound);
      expect(sumOf(live, 'tcp_open_connections', { direction: 'inbound', peer: 'src' })).toBe(1);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it(`50 concurrent HTTP/1.1 client connections use at most ${POOL} connections between the proxies`, async () => {
    const { outbound, inbound } = m.mesh;
    const dstBefore = await opens(outbound, 'outbound', 'dst');
    const srcBefore = await opens(inbound, 'inbound', 'src');
    const clients = Array.from({ length: 50 }, () => new Client(m.mesh.proxyUrl));
    try {
      // Slow answers keep all 50 requests in flight at once, so the pool is really under pressure.
      const statuses = await Promise.all(
        clients.map(async (c) => {
          const res = await c.request({ path: '/slow/150', method: 'GET', headers: { host: WEB } });
          await res.body.text();
          return res.statusCode;
        }),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
      const hop = (await opens(outbound, 'outbound', 'dst')) - dstBefore;
      expect(hop).toBeGreaterThanOrEqual(1);
      expect(hop).toBeLessThanOrEqual(POOL);
      expect((await opens(inbound, 'inbound', 'src')) - srcBefore).toBe(hop); // both ends agree
      expect(await opens(outbound, 'outbound', 'src')).toBeGreaterThanOrEqual(50 + 50);
      const s = await scrape(outbound);
      expect(sumOf(s, 'response_total', { direction: 'outbound', authority: WEB, status_code: '200' })).toBe(50);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
