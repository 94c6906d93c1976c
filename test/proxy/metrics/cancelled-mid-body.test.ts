// A response body cut off because its caller went away (an HTTP/2 client's RST_STREAM(CANCEL) or
// an HTTP/1 client closing its connection mid-body) is counted by both proxies as a cancelled
// failure, never as a success, and the cancel reaches the app, whose response is cut too.
import { request as http1Request } from 'node:http';
import { connect, constants, createServer as createH2 } from 'node:http2';
import { createServer as createHttp1 } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sumOf } from '../../../api/prom-samples.ts';
import { parsePrometheus } from '../../../api/prom-text.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { echoClient, startGrpcEcho, type EchoApp } from '../../helpers/grpc-echo.ts';
import { startTwoProxies, type TwoProxies } from '../../helpers/two-proxies.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HTTP1_APP = 'drip.cancel.svc.cluster.local:8080';
const H2_APP = 'drip-h2.cancel.svc.cluster.local:8081';
const GRPC_APP = 'echo.cancel.svc.cluster.local:9090';
/** A response the app streams: a chunk every 20 ms for 5 s, far longer than any client here reads. */
const CHUNKS = 250;
const EVERY_MS = 20;
/** Chunks a client reads before it goes away. */
const READ = 3;

/** How each response the app started ended: `finished` (all of it sent) or `cut` (closed before its end). */
type Outcome = 'finished' | 'cut';

/** An app that drips a long body, HTTP/1.1 or h2c, and says how each response ended, by path. */
async function startDripApp(host: string, protocol: 'http/1.1' | 'h2') {
  const outcomes = new Map<string, Outcome>();
  const drip = (path: string, write: (chunk: string) => void, end: () => void) => {
    let sent = 0;
    const timer = setInterval(() => {
      write(`chunk ${sent++} of ${path}\n`);
      if (sent === CHUNKS) {
        clearInterval(timer);
        end();
      }
    }, EVERY_MS);
    return () => clearInterval(timer);
  };
  let close: () => Promise<void>;
  let port: number;
  if (protocol === 'h2') {
    const server = createH2();
    server.on('session', (s) => s.on('error', () => {}));
    server.on('stream', (stream, headers) => {
      const path = String(headers[':path']);
      stream.on('error', () => {});
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      const stop = drip(path, (c) => stream.write(c), () => stream.end());
      stream.on('close', () => {
        stop();
        outcomes.set(path, stream.rstCode === constants.NGHTTP2_NO_ERROR && stream.writableFinished ? 'finished' : 'cut');
      });
    });
    await new Promise<void>((r) => server.listen(0, host, r));
    port = (server.address() as AddressInfo).port;
    close = () => new Promise((r) => server.close(() => r()));
  } else {
    const server = createHttp1((req, res) => {
      const path = req.url!;
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const stop = drip(path, (c) => res.write(c), () => res.end());
      res.on('close', () => {
        stop();
        outcomes.set(path, res.writableFinished ? 'finished' : 'cut');
      });
    });
    await new Promise<void>((r) => server.listen(0, host, r));
    port = (server.address() as AddressInfo).port;
    close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  }
  return { port, outcomes, close: () => close() };
}

/** An HTTP/2 client that reads a few chunks, then resets its stream with CANCEL. */
function h2ClientCancels(origin: string, authority: string, path: string): Promise<string> {
  const session = connect(origin);
  session.on('error', () => {});
  return new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':path': path, ':authority': authority });
    stream.on('error', () => {});
    let got = '';
    let chunks = 0;
    stream.on('data', (c: Buffer) => {
      got += c.toString();
      if (++chunks < READ) return;
      stream.close(constants.NGHTTP2_CANCEL);
      resolve(got);
    });
    stream.once('close', () => reject(new Error(`stream closed after ${chunks} chunks (rst ${stream.rstCode}): ${got}`)));
    stream.end();
  }).finally(() => session.close());
}

/** An HTTP/1.1 client (through the outbound proxy) that reads a few chunks, then closes its connection. */
function http1ClientLeaves(host: string, port: number, authority: string, path: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http1Request({ host, port, path, headers: { host: authority } }, (res) => {
      let got = '';
      let chunks = 0;
      res.on('error', () => {});
      res.on('data', (c: Buffer) => {
        got += c.toString();
        if (++chunks < READ) return;
        res.socket.destroy();
        resolve(got);
      });
      res.once('end', () => reject(new Error(`the response ended after ${chunks} chunks: ${res.statusCode} ${got}`)));
    });
    req.on('error', reject);
    req.end();
  });
}

let mesh: TwoProxies;
const apps: Record<string, Awaited<ReturnType<typeof startDripApp>>> = {};
let echo: EchoApp;

beforeAll(async () => {
  apps[HTTP1_APP] = await startDripApp(`${NET}.2`, 'http/1.1');
  apps[H2_APP] = await startDripApp(`${NET}.2`, 'h2');
  echo = await startGrpcEcho(`${NET}.2`);
  mesh = await startTwoProxies({
    clientIp: `${NET}.1`,
    serverIp: `${NET}.2`,
    services: [
      { authority: HTTP1_APP, port: apps[HTTP1_APP]!.port },
      { authority: H2_APP, port: apps[H2_APP]!.port },
      { authority: GRPC_APP, port: echo.port },
    ],
    apps: [...Object.values(apps), echo],
  });
});
afterAll(async () => {
  await mesh?.close();
});

/** Both proxies count exactly `n` requests to `authority`, every one a cancelled 200 (gRPC: status 1), none a success. */
async function expectCancelled(authority: string, n: number, grpcStatus: string | null = null): Promise<void> {
  for (const side of ['outbound', 'inbound'] as const) {
    const these = { direction: side, authority };
    const at = `${side} proxy`;
    // Counted when each body closes, which may trail the client by a tick.
    await expect.poll(async () => sumOf(parsePrometheus(await mesh[side].metrics()), 'response_total', these), { timeout: 3000 }).toBe(n);
    const s = parsePrometheus(await mesh[side].metrics());
    expect(sumOf(s, 'request_total', these), `${at}: requests`).toBe(n);
    expect(sumOf(s, 'response_total', { ...these, classification: 'success' }), `${at}: successes`).toBe(0);
    expect(sumOf(s, 'response_total', { ...these, status_code: '200', grpc_status: grpcStatus, classification: 'failure', error: 'CANCELLED' }), `${at}: cancelled`).toBe(n);
  }
}

// The inbound proxy sends each request to the app in the version it arrived in (no appProtocol
// here), so each client talks to the app that speaks its version.
describe('a caller that leaves mid-body', () => {
  it("an HTTP/2 client's RST_STREAM(CANCEL) cuts the app's response and both proxies count it as CANCELLED", async () => {
    const { outbound } = mesh;
    expect(await h2ClientCancels(`http://${outbound.host}:${outbound.port}`, H2_APP, '/h2-client')).toMatch(/^chunk 0 of \/h2-client/);
    // Cut long before its 5 s: the cancel went all the way to the app.
    await expect.poll(() => apps[H2_APP]!.outcomes.get('/h2-client'), { timeout: 3000, interval: 20 }).toBe('cut');
    await expectCancelled(H2_APP, 1);
  });

  it('an HTTP/1.1 client closing its connection cuts the app\'s response and both proxies count it as CANCELLED', async () => {
    const { outbound } = mesh;
    expect(await http1ClientLeaves(outbound.host, outbound.port, HTTP1_APP, '/http1-client')).toMatch(/^chunk 0 of \/http1-client/);
    await expect.poll(() => apps[HTTP1_APP]!.outcomes.get('/http1-client'), { timeout: 3000, interval: 20 }).toBe('cut');
    await expectCancelled(HTTP1_APP, 1);
  });

  it('a gRPC client cancelling a server-streaming call mid-stream cuts the app\'s call and both proxies count it as CANCELLED (grpc_status 1)', async () => {
    const client = echoClient(`${mesh.outbound.host}:${mesh.outbound.port}`, GRPC_APP);
    try {
      const call = client.ServerStream({ text: 'streaming', count: CHUNKS, sleepMs: EVERY_MS }) as grpc.ClientReadableStream<{ index: number }>;
      call.on('error', () => {}); // CANCELLED, as asked
      let read = 0;
      await new Promise<void>((resolve) =>
        call.on('data', () => {
          if (++read !== READ) return;
          call.cancel();
          resolve();
        }),
      );
      await expect.poll(() => echo.cancelled, { timeout: 3000, interval: 20 }).toContain('streaming');
      await expectCancelled(GRPC_APP, 1, '1');
    } finally {
      client.close();
    }
  });
});
