// A response body that fails in the very read that brought its head (a chunked response whose
// framing breaks at once): through the proxy's real HTTP/1 edge and endpoint client, the edge
// hears of the failure and closes its client's connection, and the proxy serves on. Raw TCP on
// both sides, so each side's bytes are exactly the test's.
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serveOnEdge, upstreamService } from '../../../helpers/edge.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An upstream that answers each connection's first request with `answers[i]` once its head came. */
async function rawUpstream(answers: string[]): Promise<string> {
  const sockets: Socket[] = [];
  const server = net.createServer((socket) => {
    const answer = answers[sockets.length] ?? answers[answers.length - 1]!;
    sockets.push(socket);
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) socket.write(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** One request on a connection of its own; every byte the edge sent until it closed the connection. */
function exchange(origin: string, path: string): Promise<string> {
  const { port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {}); // a connection the edge cut: its bytes so far are the answer
    socket.on('close', () => resolve(text));
    socket.on('timeout', () => reject(new Error(`no close from the edge; got: ${JSON.stringify(text)}`)));
    socket.setTimeout(20_000);
  });
}

describe('a response body that fails with its head', () => {
  it('reaches the edge, which cuts its client off mid-body, and the proxy serves the next request', async () => {
    const origin = await rawUpstream([
      // Head, one good chunk, then a chunk size that is not hex: all in one write.
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
    ]);
    const upstream = upstreamService(origin);
    cleanups.push(() => upstream.close());
    const edge = await serveOnEdge('127.0.0.1', upstream.service, 'http/1.1');
    cleanups.push(() => edge.close());

    const cut = await exchange(edge.origin, '/broken');
    expect(cut).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(cut).not.toMatch(/\r\n0\r\n\r\n$/); // no last chunk: the client can tell the body was cut
    const next = await exchange(edge.origin, '/next');
    expect(next).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  }, 60_000);
});
