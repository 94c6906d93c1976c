// Graceful shutdown of real `mesh proxy` processes: on SIGTERM and on POST /shutdown the proxy
// stops accepting, lets in-flight requests finish (up to the grace bound), and exits 0.
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Client, request } from 'undici';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../helpers/apps.ts';
import { startTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const AUTHORITY = 'web.test.svc.cluster.local:8080';
let app: Awaited<ReturnType<typeof startHttp1App>>;
let mesh: TwoProxies | undefined;

beforeAll(async () => {
  app = await startHttp1App(`${NET}.14`);
});
afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
});
afterAll(async () => {
  await app?.close();
});

/**
 * Both proxies as processes (with `args`), and a GET /slow/<slowMs> through them that the app
 * already has: from then on it is in flight through both proxies. The mesh is also kept for
 * afterEach to close.
 */
async function startWithRequestInFlight(slowMs: number, args: string[] = []) {
  const started = await startTwoProxies({ mode: 'process', clientIp: `${NET}.13`, serverIp: `${NET}.14`, services: [{ authority: AUTHORITY, port: app.port }], args });
  mesh = started;
  const client = new Client(started.proxyUrl);
  const reached = new Promise<void>((resolve) => app.server.once('request', () => resolve()));
  const inFlight = client.request({ path: `/slow/${slowMs}`, method: 'GET', headers: { host: AUTHORITY } });
  await reached;
  return { mesh: started, client, inFlight };
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

describe('graceful shutdown', () => {
  it('SIGTERM: stops accepting, finishes the in-flight request, exits 0', async () => {
    const { mesh, client, inFlight } = await startWithRequestInFlight(800);
    process.kill(mesh.outbound.pid!, 'SIGTERM');
    await expect.poll(() => refused(mesh.outbound.host, mesh.outbound.port), { timeout: 10_000 }).toBe(true);
    const res = await inFlight;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('slow done');
    expect(await mesh.outbound.exited).toBe(0);
    expect(mesh.outbound.logs.some((l) => l.msg === 'proxy draining (SIGTERM)')).toBe(true);
    await client.close();
  });

  it('POST /shutdown from the pod: drains and exits 0', async () => {
    const { mesh, client, inFlight } = await startWithRequestInFlight(500);
    const res = await request(`http://${mesh.inbound.host}:${mesh.inbound.adminPort}/shutdown`, { method: 'POST' });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const done = await inFlight;
    expect(await done.body.text()).toBe('slow done');
    expect(await mesh.inbound.exited).toBe(0);
    await client.close();
  });

  it('the grace period bounds the drain: a request slower than it is cut, and the exit is still 0', async () => {
    const { mesh, client, inFlight: request } = await startWithRequestInFlight(5000, ['--shutdown-grace-ms', '300']);
    const inFlight = request.then((r) => r.body.text(), (err: Error) => err);
    const t0 = Date.now();
    process.kill(mesh.outbound.pid!, 'SIGTERM');
    expect(await mesh.outbound.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await inFlight).toBeInstanceOf(Error);
    expect(mesh.outbound.logs.some((l) => /shutdown grace of 300 ms ended with 1 requests unfinished/.test(String(l.msg)))).toBe(true);
    await client.close();
  });

  it("SIGTERM: the app's calls out while it finishes an inbound request still go through the proxy's outbound side", async () => {
    // Another service the app calls (outside the mesh: forwarded as named), and an app that, for
    // the request in flight, calls it on a new connection to its sidecar's outbound port only
    // once the sidecar has stopped accepting inbound connections (it drains).
    const other = createServer((_req, res) => res.end('other'));
    await new Promise<void>((r) => other.listen(0, `${NET}.15`, r));
    let callOut!: () => Promise<number>;
    const caller = createServer((_req, res) => {
      void (async () => {
        await drainingStarted;
        const status = await callOut().catch(() => 0);
        res.writeHead(status === 200 ? 200 : 502).end(`called out: ${status}`);
      })();
    });
    await new Promise<void>((r) => caller.listen(0, `${NET}.14`, r));
    let signalDraining!: () => void;
    const drainingStarted = new Promise<void>((r) => (signalDraining = r));
    const authority = 'caller.test.svc.cluster.local:8080';
    mesh = await startTwoProxies({ mode: 'process', clientIp: `${NET}.13`, serverIp: `${NET}.14`, services: [{ authority, port: (caller.address() as AddressInfo).port }] });
    const sidecar = mesh.inbound.logs.find((l) => l.msg === 'proxy listening') as unknown as { outbound: { port: number } };
    const otherPort = (other.address() as AddressInfo).port;
    callOut = () =>
      request(`http://${NET}.14:${sidecar.outbound.port}/hello`, { headers: { host: `${NET}.15:${otherPort}` }, reset: true }).then(async (r) => (await r.body.text(), r.statusCode));
    const client = new Client(mesh.proxyUrl);
    const answer = client.request({ path: '/order', method: 'POST', headers: { host: authority }, body: '{}' });
    await new Promise<void>((resolve) => caller.once('request', () => resolve()));
    process.kill(mesh.inbound.pid!, 'SIGTERM');
    // The sidecar drains its inbound side: new connections to it are refused.
    await expect.poll(() => refused(mesh!.inbound.host, mesh!.inbound.port), { timeout: 10_000 }).toBe(true);
    signalDraining();
    const res = await answer;
    expect(await res.body.text()).toBe('called out: 200');
    expect(res.statusCode).toBe(200);
    expect(await mesh.inbound.exited).toBe(0);
    await client.close();
    await new Promise((r) => caller.close(r));
    await new Promise((r) => other.close(r));
  });
});

