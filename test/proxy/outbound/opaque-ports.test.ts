// Server-speaks-first protocols through the mesh: an SMTP-like and a MySQL-like server greet the
// client as soon as it connects, and the client sends nothing until it has the greeting. Through a
// client proxy's CONNECT tunnel (as an app behind HTTP_PROXY opens one), the greeting must arrive
// at once, not after the 10 s detect timeout: the port is opaque by the Service's
// `config.linkerd.io/opaque-ports`, or by a Server's `proxyProtocol: opaque`, and rides mTLS to
// the server's proxy. A port in `--skip-outbound-ports` goes straight to its target, outside the
// mesh. Real CA, destination, proxies and sockets.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from '../../helpers/connect-tunnel.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { serverDoc, serviceDoc, yamlDocuments } from '../../helpers/dev-resources.ts';
import { controlPlane, eventually, metricValue, proxyArgs, startProxy, type ControlPlane, type RunningProxy } from '../../helpers/control-plane.ts';

/**
 * smtp is opaque by its Service's annotation, mysql by a Server's `proxyProtocol: opaque`; legacy
 * (port 4000) is opaque only by the pod's own `--opaque-ports`.
 */
const RESOURCES = yamlDocuments([
  serviceDoc({ name: 'smtp', namespace: 'production', app: 'mail', ports: [{ port: 25, targetPort: 2525 }], annotations: { 'config.linkerd.io/opaque-ports': '2525' } }),
  serviceDoc({ name: 'mysql', namespace: 'production', app: 'mail', ports: [{ port: 3306 }] }),
  serverDoc({ name: 'mail-mysql', namespace: 'production', app: 'mail', port: 3306, proxyProtocol: 'opaque', accessPolicy: 'all-unauthenticated' }),
  serviceDoc({ name: 'legacy', namespace: 'production', app: 'mail', ports: [{ port: 4000 }] }),
]);

let net: string;
let cp: ControlPlane;
const servers: Server[] = [];
const sockets = new Set<Socket>();
/** Who each server-first app saw connect (the address a connection came from). */
const callers: Record<number, string[]> = {};
let mail: RunningProxy;
let client: RunningProxy;

/** A server that speaks first: a greeting line on connect, then each line it reads echoed back. */
async function greeter(port: number, greeting: string): Promise<void> {
  callers[port] = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    callers[port]!.push(socket.remoteAddress ?? '');
    socket.write(`${greeting}\r\n`);
    socket.on('data', (d) => socket.write(`echo ${d.toString()}`));
    socket.on('error', () => {});
  });
  server.listen(port, `${net}.2`);
  await once(server, 'listening');
  servers.push(server);
}

/** A client that CONNECTs through the outbound proxy, then waits for the server to speak first. */
async function connectAndHear(target: string): Promise<{ greeting: string; ms: number; socket: Socket }> {
  const { socket, head, rest } = await openTunnel(client.outboundPort, client.ip, target);
  expect(head).toMatch(/^HTTP\/1\.1 200 /);
  const started = performance.now();
  let greeting = rest.toString('latin1');
  if (!greeting.includes('\r\n')) {
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        greeting += d.toString('latin1');
        if (!greeting.includes('\r\n')) return;
        socket.off('data', onData);
        resolve();
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error(`closed; read ${JSON.stringify(greeting)}`)));
    });
  }
  return { greeting: greeting.trim(), ms: performance.now() - started, socket };
}

async function echo(socket: Socket, text: string): Promise<string> {
  socket.write(`${text}\r\n`);
  const [d] = (await once(socket, 'data')) as [Buffer];
  return d.toString().trim();
}

beforeAll(async () => {
  net = await addressBlock();
  cp = await controlPlane();
  writeFileSync(join(cp.resourcesDir, 'mail.yaml'), RESOURCES);
  await cp.startIdentity(`${net}.1:0`);
  await cp.startDestination(`${net}.1:0`);
  await greeter(2525, '220 smtp.example ESMTP ready');
  await greeter(3306, 'J\u0000\u0000\u0000\n8.0.36-mysql-like');
  await greeter(2600, '220 outside the mesh');
  await greeter(4000, 'LEGACY v1 ready');
  // The pod's own opaque-ports annotation reaches its proxy as --opaque-ports (the injector's
  // MESH_PROXY_OPAQUE_PORTS), which announces the port opaque when it registers.
  mail = await startProxy(proxyArgs(cp, { name: 'mail-1', serviceAccount: 'mail', ip: `${net}.2`, labels: { app: 'mail' }, ports: ['2525', '3306', '4000'], args: ['--opaque-ports', '4000'] }));
  client = await startProxy([...proxyArgs(cp, { name: 'client-1', serviceAccount: 'client', ip: `${net}.3`, labels: { app: 'client' } }), '--skip-outbound-ports', '2600-2610']);
  await eventually(async () => (await Promise.all([mail.ready(), client.ready()])).every((r) => r.status === 200), 15_000, 'both proxies ready');
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await Promise.allSettled([client?.stop(), mail?.stop()]);
  await cp?.close();
});

describe('server-speaks-first protocols through opaque ports', () => {
  // The detect timeout is 10 s: a greeting held behind detection would arrive after it. The bound
  // is generous for a loaded machine; on an idle one the greeting takes a few milliseconds.
  const PROMPT_MS = 1_000;

  it.each([
    ['the Service\'s opaque-ports annotation', 'smtp.production.svc.cluster.local:25', '220 smtp.example ESMTP ready', 2525],
    ['a Server\'s proxyProtocol: opaque', 'mysql.production.svc.cluster.local:3306', 'J\u0000\u0000\u0000\n8.0.36-mysql-like', 3306],
    ['the pod\'s own opaque-ports, announced by its proxy', 'legacy.production.svc.cluster.local:4000', 'LEGACY v1 ready', 4000],
  ])('a greeting reaches the client at once, over mTLS (%s)', async (_why, target, greeting, port) => {
    const before = metricValue(await mail.metrics(), 'tcp_open_total', { direction: 'inbound', tls: 'true' }) ?? 0;
    const { greeting: heard, ms, socket } = await connectAndHear(target);
    expect(heard).toBe(greeting);
    expect(ms).toBeLessThan(PROMPT_MS);
    // Both ways: the client's line reaches the server and its answer comes back.
    expect(await echo(socket, 'EHLO client.example')).toBe('echo EHLO client.example');
    socket.destroy();
    // Through the mail pod's proxy over mTLS, not from the client pod directly.
    expect(callers[port]!.at(-1)).not.toBe(`${net}.3`);
    expect(metricValue(await mail.metrics(), 'tcp_open_total', { direction: 'inbound', tls: 'true' }) ?? 0).toBeGreaterThan(before);
  });

  it('a port in --skip-outbound-ports goes straight to its target, outside the mesh, and is heard at once', async () => {
    const { greeting, ms, socket } = await connectAndHear(`${net}.2:2600`);
    expect(greeting).toBe('220 outside the mesh');
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await echo(socket, 'HELO')).toBe('echo HELO');
    socket.destroy();
    // Dialled by the client's proxy from the client pod's address: the mail pod's proxy never saw it.
    expect(callers[2600]!.at(-1)).toBe(`${net}.3`);
  });
});
