// A client that stops reading a large response, through two proxies over mTLS: the app is held back
// end to end (each hop's parser stops reading its socket), every byte arrives once the client
// reads again, and the client's connection then carries the next request.
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../helpers/address-block.ts';
import { testPki } from '../helpers/pki.ts';
import { startTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const WEB = 'web.test.svc.cluster.local:8080';
const TOTAL = 256 * 1024 * 1024;
/**
 * What the app may have written while the client reads nothing: the socket buffers of three
 * hops and a few streams' high-water marks (about 15 MB measured), far below the body.
 */
const MAX_AHEAD = 64 * 1024 * 1024;
let mesh: TwoProxies;
/** Bytes the app has written of the current response. */
let written = 0;
/** Large responses the app has begun. */
let begun = 0;

beforeAll(async () => {
  const pki = await testPki();
  const mtls = { client: await pki.credentialsFor('test/client'), server: await pki.credentialsFor('test/server') };
  const app: Server = createServer((req, res) => {
    if (req.url === '/small') return void res.end('small');
    written = 0;
    begun++;
    // /length: framed by a content-length; /chunked: chunked.
    res.writeHead(200, req.url === '/length' ? { 'content-length': TOTAL } : {});
    const chunk = Buffer.alloc(64 * 1024, 'z');
    const pump = (): void => {
      while (written < TOTAL) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => app.listen(0, `${NET}.18`, r));
  mesh = await startTwoProxies({
    clientIp: `${NET}.17`,
    serverIp: `${NET}.18`,
    services: [{ authority: WEB, port: (app.address() as AddressInfo).port }],
    apps: [app],
    mtls,
  });
});
afterAll(() => mesh?.close());

describe('a client that stops reading, through two proxies over mTLS', () => {
  for (const path of ['/length', '/chunked']) {
    it(`holds the app back (${path.slice(1)}), then delivers every byte, and the connection goes on`, async () => {
      const sock = net.connect(mesh.outbound.port, mesh.outbound.host);
      await new Promise((r) => sock.once('connect', r));
      sock.pause();
      const before = begun;
      sock.write(`GET ${path} HTTP/1.1\r\nhost: ${WEB}\r\n\r\n`);
      // The app has this request (without it, the hold-back check below passes for an app sent nothing),
      await expect.poll(() => begun, { timeout: 10_000 }).toBe(before + 1);
      // then every chance to write ahead of a client that reads nothing.
      await new Promise((r) => setTimeout(r, 2000));
      expect(written).toBeGreaterThan(0);
      expect(written).toBeLessThan(MAX_AHEAD);
      // Read it all: the head, then the body to its end (its length, or the last chunk).
      const lastChunk = Buffer.from('\r\n0\r\n\r\n');
      let headBytes = -1;
      let bytes = 0;
      let tail = Buffer.alloc(0);
      await new Promise<void>((resolve) => {
        sock.on('data', (d: Buffer) => {
          if (headBytes < 0) headBytes = d.indexOf('\r\n\r\n') + 4;
          bytes += d.length;
          tail = Buffer.concat([tail, d.subarray(-lastChunk.length)]).subarray(-lastChunk.length);
          if (path === '/length' ? bytes === headBytes + TOTAL : tail.equals(lastChunk)) {
            sock.removeAllListeners('data');
            resolve();
          }
        });
        sock.resume();
      });
      expect(written).toBe(TOTAL);
      expect(bytes - headBytes).toBeGreaterThanOrEqual(TOTAL);
      sock.write(`GET /small HTTP/1.1\r\nhost: ${WEB}\r\n\r\n`);
      const small = await new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString())));
      expect(small).toMatch(/^HTTP\/1\.1 200 [\s\S]*small$/);
      sock.destroy();
    }, 60_000);
  }
});
