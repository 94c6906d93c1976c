// An HTTP/2 client that resets its stream mid-response: the proxies cut the upstream's body, so an
// endless response stops at the app instead of streaming into nobody.
import { connect, constants, createServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../helpers/address-block.ts';
import { startAppBehindTwoProxies, type TwoProxies } from '../../helpers/two-proxies.ts';

const NET = await addressBlock();
const AUTHORITY = 'endless.test.svc.cluster.local:8443';

/** An h2c app whose every response is endless: a chunk each 10 ms until its stream closes. */
async function startEndlessApp(host: string) {
  const server = createServer();
  const app = { port: 0, streams: [] as ServerHttp2Stream[], close: () => new Promise<void>((r) => server.close(() => r())) };
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    app.streams.push(stream);
    stream.respond({ ':status': 200 });
    const timer = setInterval(() => stream.write('tick\n'), 10);
    stream.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  app.port = (server.address() as AddressInfo).port;
  return app;
}

let mesh: TwoProxies & { app: Awaited<ReturnType<typeof startEndlessApp>> };

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startEndlessApp, { clientIp: `${NET}.3`, serverIp: `${NET}.4`, authority: AUTHORITY });
});
afterAll(async () => {
  await mesh?.close();
});

describe('an HTTP/2 client that leaves mid-response', () => {
  it("resets the app's stream too, and the proxy serves the next request on the same session", async () => {
    const session = connect(`http://${mesh.outbound.host}:${mesh.outbound.port}`);
    session.on('error', () => {});
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/endless', ':authority': AUTHORITY });
        stream.on('error', () => {});
        stream.once('data', (c: Buffer) => {
          stream.close(constants.NGHTTP2_CANCEL); // the client is gone, the upstream still sending
          resolve(c.toString());
        });
        stream.once('close', () => reject(new Error(`stream closed before any data (rst ${stream.rstCode})`)));
        stream.end();
      });
      expect(got).toMatch(/^tick/);
      expect(mesh.app.streams).toHaveLength(1);
      // Generous: a loaded machine may take its time, but the app's stream must end.
      await expect.poll(() => mesh.app.streams[0]!.closed, { timeout: 10_000, interval: 50 }).toBe(true);
      expect(mesh.app.streams[0]!.rstCode).toBe(constants.NGHTTP2_CANCEL); // cut by the proxy, not ended

      const second = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/again', ':authority': AUTHORITY });
        stream.on('error', reject);
        stream.once('data', (c: Buffer) => {
          stream.close(constants.NGHTTP2_CANCEL);
          resolve(c.toString());
        });
        stream.end();
      });
      expect(second).toMatch(/^tick/);
    } finally {
      session.close();
    }
  });
});
