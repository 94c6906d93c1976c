// Connections between the two proxies are shared: 50 gRPC client connections ride one HTTP/2
// connection, and 50 HTTP/1.1 client connections stay within the HTTP/1.1 pool's maximum.
// Both are read from the outbound proxy's tcp_open_total{peer="dst"}.
import * as grpc from '@grpc/grpc-js';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../helpers/apps.ts';
import { echoClient, startGrpcEcho } from '../helpers/grpc-echo.ts';
import { startTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const GRPC = 'echo.test.svc.cluster.local:9090';
const WEB = 'web.test.svc.cluster.local:8080';
const POOL = 8;
let mesh: TwoProxies;

beforeAll(async () => {
  const grpcApp = await startGrpcEcho(`${NET}.16`);
  const web = await startHttp1App(`${NET}.16`);
  mesh = await startTwoProxies({
    clientIp: `${NET}.15`,
    serverIp: `${NET}.16`,
    services: [{ authority: GRPC, port: grpcApp.port }, { authority: WEB, port: web.port }],
    apps: [grpcApp, web],
    args: ['--http1-pool-size', String(POOL)],
  });
});
afterAll(() => mesh?.close());

/** Connections the outbound proxy accepted (src) or opened to the inbound proxy (dst), summed over label sets. */
async function opens(peer: 'src' | 'dst'): Promise<number> {
  const text = await mesh.outbound.metrics();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('tcp_open_total{') && line.includes('direction="outbound"') && line.includes(`peer="${peer}"`)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

describe('connection reuse between proxies', () => {
  it('50 concurrent gRPC client connections make exactly one connection between the proxies', async () => {
    const before = await opens('dst');
    const clientsBefore = await opens('src');
    // A distinct channel option makes grpc-js open a separate connection per client.
    const clients = Array.from({ length: 50 }, (_, i) =>
      echoClient(`${mesh.outbound.host}:${mesh.outbound.port}`, GRPC, { 'grpc.use_local_subchannel_pool': 1, 'test.client': i }),
    );
    try {
      const replies = await Promise.all(
        clients.map(
          (c, i) =>
            new Promise<string>((resolve, reject) =>
              c.Unary({ text: `c${i}` }, (err: grpc.ServiceError | null, r: { text: string }) => (err ? reject(err) : resolve(r.text))),
            ),
        ),
      );
      expect(replies).toEqual(clients.map((_, i) => `c${i}`));
      expect((await opens('src')) - clientsBefore).toBeGreaterThanOrEqual(50);
      expect((await opens('dst')) - before).toBe(1);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it(`50 concurrent HTTP/1.1 client connections use at most ${POOL} connections between the proxies`, async () => {
    const before = await opens('dst');
    const clients = Array.from({ length: 50 }, () => new Client(mesh.proxyUrl, { connections: 1 } as never));
    try {
      const bodies = await Promise.all(
        clients.map(async (c, i) => {
          const texts: string[] = [];
          for (let k = 0; k < 4; k++) {
            const res = await c.request({ path: `/slow/20?c=${i}&k=${k}`, method: 'GET', headers: { host: WEB } });
            texts.push(await res.body.text());
          }
          return texts;
        }),
      );
      expect(bodies.flat().every((t) => t === 'slow done')).toBe(true);
      const opened = (await opens('dst')) - before;
      expect(opened).toBeGreaterThan(0);
      expect(opened).toBeLessThanOrEqual(POOL);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
