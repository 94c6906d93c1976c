// onBodyClose(): every layer's hook on one HTTP/2 response body runs once, in order, when the body
// ends and when it is destroyed mid-way, with one 'close' listener on the body for all of them.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onBodyClose, type BodyCloseHook } from '../../../proxy/http/body-close.ts';

let server: http2.Http2Server;
let client: http2.ClientHttp2Session;

beforeAll(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.write('first chunk');
    if (headers[':path'] === '/whole') stream.end('last chunk');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(() => {
  client.close();
  server.close();
});

/** A response body from the server, and which of three hooks ran (in order) with that body when it closed. */
async function bodyWithHooks(path: string): Promise<{ body: Readable; seen: number[]; closed: Promise<void> }> {
  const body = client.request({ ':path': path });
  body.on('error', () => {});
  await new Promise((r) => body.once('response', r));
  const seen: number[] = [];
  const hook = (n: number): BodyCloseHook => ({ bodyClosed: (b) => seen.push(b === body && body.closed ? n : -n) });
  const before = body.listenerCount('close');
  for (const n of [1, 2, 3]) onBodyClose(body, hook(n));
  expect(body.listenerCount('close') - before).toBe(1);
  const closed = new Promise<void>((r) => body.once('close', () => setImmediate(r)));
  body.resume();
  return { body, seen, closed };
}

describe('onBodyClose', () => {
  it('runs every hook once, in the order they came, when the body ends; one close listener for all', async () => {
    const { seen, closed } = await bodyWithHooks('/whole');
    await closed;
    expect(seen).toEqual([1, 2, 3]);
  });

  it('runs every hook once when the body is destroyed mid-way (as the edge does when its client leaves)', async () => {
    const { body, seen, closed } = await bodyWithHooks('/held');
    await new Promise((r) => body.once('data', r));
    body.destroy();
    await closed;
    // (Whether it ended whole is not the body's to say: Node reports an HTTP/2 body it destroyed
    // as ended too, so the metrics layer asks the request's signal; cancelled-mid-body.test.ts.)
    expect(seen).toEqual([1, 2, 3]);
  });
});
