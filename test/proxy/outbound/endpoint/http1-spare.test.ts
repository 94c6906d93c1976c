// The HTTP/1.1 client's spare connection (opened by preconnect ahead of the first request, for a
// joining endpoint): one the peer closes while it waits is never handed to a request, which goes
// out on a new connection instead, and a later preconnect opens another spare.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../../api/destination-types.ts';
import { Http1Client } from '../../../../proxy/outbound/endpoint/http1-client.ts';
import { endpointTarget } from '../../../../proxy/outbound/endpoint/target.ts';
import { meshRequest, quietLogger, readBody } from './fixtures/harness.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real HTTP/1.1 server on port 0 that closes the first `closeFirst` connections as soon as they arrive. */
async function server(closeFirst: number): Promise<{ address: string; connections: () => number }> {
  let connections = 0;
  const srv = http.createServer((_req, res) => res.end('ok'));
  srv.on('connection', (socket: Socket) => {
    if (++connections <= closeFirst) socket.end(); // its FIN: the client's spare learns it was closed
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return { address: `127.0.0.1:${(srv.address() as AddressInfo).port}`, connections: () => connections };
}

function client(address: string, onConnection: (socket: Socket) => void = () => {}): Http1Client {
  const c = new Http1Client(endpointTarget({ address } as Endpoint, undefined), { connections: 4, idleTimeoutMs: 30_000, connectTimeoutMs: 10_000, onConnection, logger: quietLogger });
  cleanups.push(() => c.destroy());
  return c;
}

const send = async (c: Http1Client) => {
  const res = await c.service(meshRequest({ protocol: 'http/1.1', method: 'POST', path: '/orders' }));
  return { status: res.status, body: (await readBody(res)).toString() };
};

describe('the HTTP/1.1 client\'s spare connection', () => {
  it('a spare the peer closed is not handed to a request, even in the moment between its FIN and its close', async () => {
    const srv = await server(1);
    let spare: Socket | undefined;
    let sent: Promise<{ status: number; body: string }> | undefined;
    const c = client(srv.address, (socket) => {
      if (spare) return;
      spare = socket;
      // The request goes out the moment the client reads the peer's FIN: the spare is not yet
      // destroyed, and would be taken unless its end is heard.
      socket.once('end', () => (sent = send(c)));
    });
    await c.preconnect();
    for (const deadline = Date.now() + 20_000; !sent && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    expect(sent).toBeDefined();
    expect(await sent).toEqual({ status: 200, body: 'ok' });
    expect(srv.connections()).toBe(2); // the closed spare, then a new connection for the request
  });

  it('after its spare died unused, a preconnect opens another, and the request takes that one', async () => {
    const srv = await server(1);
    let closed: Promise<unknown> | undefined;
    const c2 = client(srv.address, (socket) => void (closed ??= new Promise((r) => socket.once('close', r))));
    await c2.preconnect();
    await closed; // the peer closed the first spare, and the client has torn it down
    await c2.preconnect();
    for (const deadline = Date.now() + 20_000; srv.connections() < 2 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    expect(srv.connections()).toBe(2); // the second spare, opened before any request
    expect(await send(c2)).toEqual({ status: 200, body: 'ok' });
    expect(srv.connections()).toBe(2); // the request used it: no third connection
  });
});
