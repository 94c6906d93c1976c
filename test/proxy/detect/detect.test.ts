// Protocol detection: what each first-bytes pattern is called, and that detection over a real
// socket hands every byte on untouched (or times out to opaque).
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { classify, detect } from '../../../proxy/detect/sniff.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const b = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));

describe('classify', () => {
  it.each([
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'h2'],
    ['GET / HTTP/1.1\r\n', 'http1'],
    ['CONNECT a:1 HTTP/1.1\r\n', 'http1'],
    ['M-SEARCH * HTTP/1.1', 'http1'],
    ['L5D-OPAQUE 8080\r\n', 'opaque-transport'],
    ['SSH-2.0-OpenSSH\r\n', 'opaque'],
    ['get / HTTP/1.1', 'opaque'],
    [' GET', 'opaque'],
  ])('%j is %s', (head, want) => expect(classify(b(head))).toBe(want));

  it('a TLS handshake record is tls, another record type is opaque', () => {
    expect(classify(b([0x16, 0x03, 0x01, 0x02, 0x00]))).toBe('tls');
    expect(classify(b([0x16, 0x99]))).toBe('opaque');
  });

  it('waits for more bytes while a prefix is still ambiguous', () => {
    expect(classify(b('PRI * HTTP'))).toBeUndefined(); // could still be the h2 preface
    expect(classify(b('PRI * HTTP/2.0\r\n\r\nXX'))).toBe('http1'); // not the preface after all: an odd method
    expect(classify(b('L5D-OP'))).toBeUndefined();
    expect(classify(b('GE'))).toBeUndefined();
    expect(classify(b([0x16]))).toBeUndefined();
    expect(classify(b('ABCDEFGHIJKLMNOPQRSTUVWXYZ'))).toBe('opaque'); // a "method" too long to be one
  });
});

async function pair(): Promise<{ client: Socket; server: Socket; close(): void }> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, `${NET}.40`, r));
  const accepted = new Promise<Socket>((r) => srv.once('connection', r));
  const client = connect((srv.address() as AddressInfo).port, `${NET}.40`);
  const server = await accepted;
  return { client, server, close: () => (client.destroy(), server.destroy(), srv.close()) };
}

describe('detect over a socket', () => {
  it('hands the sniffed bytes, split over several packets, to the next reader', async () => {
    const { client, server, close } = await pair();
    client.write('PRI * HT');
    setTimeout(() => client.write('TP/2.0\r\n\r\nSM\r\n\r\nrest-of-stream'), 20);
    const d = await detect(server, 1000);
    expect(d).toEqual({ protocol: 'h2', timedOut: false });
    await new Promise((r) => setTimeout(r, 20));
    let text = '';
    server.on('data', (c) => (text += c));
    server.resume();
    await new Promise((r) => setTimeout(r, 20));
    expect(text).toBe('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest-of-stream');
    close();
  });

  it('calls a silent connection opaque after the detect timeout', async () => {
    const { server, close } = await pair();
    const t0 = performance.now();
    expect(await detect(server, 100)).toEqual({ protocol: 'opaque', timedOut: true });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    close();
  });

  it('rejects when the peer closes before its protocol is known', async () => {
    const { client, server, close } = await pair();
    client.end('GE');
    await expect(detect(server, 1000)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    close();
  });
});
