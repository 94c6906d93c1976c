// `mesh viz`'s client (viz/cli/client.ts) against a real HTTP server on [::1]: an IPv6 viz address,
// bracketed or bare, is reached; an address that is not host:port is a VizClientError naming it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vizGet, VizClientError } from '../../viz/cli/client.ts';

let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url }));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '::1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the viz client\'s address', () => {
  it('reaches a viz on an IPv6 address, bracketed or bare', async () => {
    for (const addr of [`[::1]:${port}`, `::1:${port}`]) {
      expect(await vizGet(addr, '/api/stat', { resource: 'deploy' }), addr).toEqual({ url: '/api/stat?resource=deploy' });
    }
  });

  it('names an address that is not host:port', async () => {
    const err = await vizGet('localhost', '/api/stat', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VizClientError);
    expect((err as VizClientError).code).toBe('VIZ_BAD_ADDRESS');
    expect((err as VizClientError).message).toBe('the viz address "localhost" is not host:port (no port), such as 127.0.0.1:8080 or [fd00::5]:8080');
  });
});
