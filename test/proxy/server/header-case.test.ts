// Header names are case-insensitive on HTTP/1 and the mesh's HeaderMap holds them lower-case
// (proxy/http/message.ts): a request head written in any case by a raw socket reaches the proxy's
// layers and the next hop with lower-case names, and two spellings of one name are one header.
// Black-box, through a real proxy, so it guards whichever HTTP/1 server edge the proxy runs.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeaderMap, Layer } from '../../../proxy/http/message.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';
import { StopFailures } from '../../helpers/teardown.ts';

const NET = await addressBlock();
const WEB = 'web.test.svc.cluster.local:8080';
const resolver = new TestResolver();
/** The raw header list each request reached the app with, as its sender wrote it. */
const arrived: string[][] = [];
/** The HeaderMap each inbound request reached the policy layer with. */
const layerSaw: HeaderMap[] = [];
const recordingPolicy: Layer = (inner) => (req) => {
  layerSaw.push(req.headers);
  return inner(req);
};
let app: App;
let proxy: RunningProxy;

beforeAll(async () => {
  app = await startApp(`${NET}.2`, (req, res) => {
    arrived.push(req.rawHeaders);
    res.end('ok');
  });
  resolver.setEndpoints(WEB, [app.address]);
  // The app's port is the default inbound one, so a request from outside the mesh finds it.
  proxy = await startProxy(`${NET}.2`, resolver, { authorize: recordingPolicy, args: ['--app-port', app.address.split(':')[1]!] });
});
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('proxy', () => proxy?.close());
  await failures.attempt('app', () => app?.close());
  failures.throwIfAny('header case teardown');
});

/** Writes `head` on a raw socket to `port` and resolves with the status line of the answer. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, `${NET}.2`, () => socket.write(head));
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(text.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
  });
}

/** A head in mixed case: one name written twice in two spellings, and Host and Content-Length capitalised. */
const HEAD = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Foo: 1\r\nx-FOO: 2\r\nX-Request-Tag: Mixed-Case-Value\r\nContent-Length: 0\r\n\r\n`;

/** The names of a raw header list. */
const namesOf = (raw: string[]) => raw.filter((_, i) => i % 2 === 0);

describe('header names from an HTTP/1 request head', () => {
  it('reach the next hop lower-case from the outbound edge, values untouched', async () => {
    arrived.length = 0;
    const outbound = proxy.proxy.address.outbound.port;
    expect(await rawRequest(outbound, HEAD(WEB))).toBe('HTTP/1.1 200 OK');
    const raw = arrived[0]!;
    expect(namesOf(raw).filter((n) => n !== n.toLowerCase())).toEqual([]);
    expect(raw.filter((_, i) => i > 0 && namesOf(raw)[(i - 1) / 2] === 'x-foo')).toEqual(['1', '2']);
    expect(raw[raw.indexOf('x-request-tag') + 1]).toBe('Mixed-Case-Value');
  });

  it('reach the inbound layers lower-case, one name for both spellings, and the app the same', async () => {
    arrived.length = 0;
    layerSaw.length = 0;
    expect(await rawRequest(proxy.inboundPort, HEAD(app.address))).toBe('HTTP/1.1 200 OK');
    const seen = layerSaw[0]!;
    expect(Object.keys(seen).filter((n) => n !== n.toLowerCase())).toEqual([]);
    expect(seen['x-foo']).toEqual(['1', '2']);
    expect(seen['x-request-tag']).toBe('Mixed-Case-Value');
    expect(namesOf(arrived[0]!).filter((n) => n !== n.toLowerCase())).toEqual([]);
  });
});
