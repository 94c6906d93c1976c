// joinTunnel with real sockets: a side that closed while the other was being opened (a client that
// gave up while the proxy awaited the target's profile or connection) must not leave the other open.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { joinTunnel } from '../../../proxy/server/tunnel.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server on port 0 that holds every connection open; resolves each accepted socket's close. */
async function holdingServer(): Promise<{ port: number; accepted: Promise<Socket> }> {
  let accept!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (accept = r));
  const server = createServer((s) => accept(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, accepted };
}

const opened = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });

describe('joinTunnel', () => {
  it('closes the upstream when the client had already gone before the join', async () => {
    const clientEnd = await holdingServer();
    const client = await opened(clientEnd.port);
    client.destroy(); // the caller gave up while the tunnel was being opened
    await new Promise((r) => client.once('close', r));
    const target = await holdingServer();
    const upstream = await opened(target.port);
    const atTarget = await target.accepted;
    const targetSawClose = new Promise((r) => atTarget.once('close', r));
    joinTunnel(client, upstream, pino({ level: 'silent' }), 'test');
    await targetSawClose; // without the check, the target's connection stays open: this waits out the test's timeout
    expect(upstream.destroyed).toBe(true);
  });
});
