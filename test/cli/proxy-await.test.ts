// `mesh proxy-await` as a real process against a real admin server: it finds the proxy of an IPv6
// pod from the pod's bare address, and names a bad address instead of crashing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMesh } from './run-mesh.ts';

let admin: Server;
let port: number;
const asked: string[] = [];

beforeAll(async () => {
  admin = createServer((req, res) => {
    asked.push(req.url ?? '');
    res.statusCode = req.url === '/ready' ? 200 : 404;
    res.end('ready\n');
  });
  await new Promise<void>((resolve, reject) => admin.once('error', reject).listen(0, '::1', () => resolve()));
  port = (admin.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => admin.close(() => resolve())));

describe('mesh proxy-await', () => {
  it('reaches the admin server of an IPv6 pod, whose MESH_POD_IP comes without brackets', async () => {
    const r = await runMesh(['proxy-await', '--timeout', '30s'], { env: { MESH_POD_IP: '::1', MESH_PROXY_ADMIN_PORT: String(port) } });
    expect([r.code, r.err]).toEqual([0, '']);
    expect(asked).toContain('/ready');
  });

  it('names an address that is not host:port, and where it came from', async () => {
    const flag = await runMesh(['proxy-await', '--addr', 'localhost']);
    expect([flag.code, flag.err.trim()]).toEqual([2, 'mesh proxy-await: --addr "localhost" is not host:port (no port), such as 127.0.0.1:8080 or [fd00::5]:8080']);
    const env = await runMesh(['proxy-await'], { env: { MESH_POD_IP: '10.0.0.5', MESH_PROXY_ADMIN_PORT: 'admin' } });
    expect(env.code).toBe(2);
    expect(env.err).toContain('MESH_POD_IP:MESH_PROXY_ADMIN_PORT "10.0.0.5:admin" is not host:port');
  });
});
