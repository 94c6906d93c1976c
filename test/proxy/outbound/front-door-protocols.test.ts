// What clients the project did not write send to the front door: curl's HTTP/1.1, HTTP/1.1 with
// `Upgrade: h2c` (curl --http2 on http://) and HTTP/2 with prior knowledge all reach an
// HTTP/1.1-only checkout app through a real CA, destination and mTLS proxies, and get its answer.
// The h2c request is served as HTTP/1.1 with the upgrade headers dropped, never tunnelled; the
// HTTP/2 one is translated to HTTP/1.1 by checkout's inbound proxy because checkout's Service
// port says `appProtocol: http`. Addresses in a /24 of the file's own (addressBlock()).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlane, eventually, proxyArgs, startProxy, type ControlPlane, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';

const run = promisify(execFile);
// Its own block, not a fixed one: two runs of the suite at once would bind the same addresses.
const NET = await addressBlock();
const CHECKOUT = 'checkout.production.svc.cluster.local:8080';
const FRONT_IP = `${NET}.4`;

let cp: ControlPlane;
const proxies: RunningProxy[] = [];
let app: Server;
let ingress: RunningProxy;

/** What the HTTP/1.1-only app saw, as it answers it: version, method, body, upgrade headers. */
interface Seen {
  httpVersion: string;
  method: string;
  body: string;
  upgrade: string | null;
  http2Settings: string | null;
  clientId: string | null;
}

async function curl(...args: string[]): Promise<{ status: number; version: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code} %{http_version}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  const [status, version] = stdout.slice(cut + 1).split(' ');
  return { status: Number(status), version: version!, body: stdout.slice(0, cut) };
}

beforeAll(async () => {
  cp = await controlPlane();
  writeFileSync(
    join(cp.resourcesDir, 'checkout.yaml'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: checkout, namespace: production}\nspec:\n  selector: {app: checkout}\n  ports: [{port: 8080, appProtocol: http}]\n',
  );
  await cp.startIdentity(`${NET}.1:0`);
  await cp.startDestination(`${NET}.1:0`);
  // node:http speaks HTTP/1.1 only: an HTTP/2 preface would be a 400 from it.
  app = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const seen: Seen = {
        httpVersion: req.httpVersion,
        method: req.method ?? '',
        body,
        upgrade: req.headers.upgrade ?? null,
        http2Settings: (req.headers['http2-settings'] as string | undefined) ?? null,
        clientId: (req.headers['l5d-client-id'] as string | undefined) ?? null,
      };
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(seen));
    });
  });
  await new Promise<void>((resolve) => app.listen(8080, `${NET}.2`, resolve));
  proxies.push(await startProxy(proxyArgs(cp, { name: 'checkout-1', serviceAccount: 'checkout', ip: `${NET}.2`, labels: { app: 'checkout' }, ports: ['8080'] })));
  ingress = await startProxy([
    ...proxyArgs(cp, { name: 'ingress-1', serviceAccount: 'ingress', ip: `${NET}.3`, labels: { app: 'ingress' } }),
    '--ingress', '--outbound-ip', FRONT_IP, '--ingress-default-dst', CHECKOUT,
  ]);
  proxies.push(ingress);
  await eventually(async () => (await Promise.all(proxies.map((p) => p.ready()))).every((r) => r.status === 200), 15_000, 'every proxy ready');
  await eventually(async () => (await curl('--http1.1', `http://${FRONT_IP}:${ingress.outboundPort}/checkout`)).status === 201, 15_000, 'checkout reachable through the front door');
  // The h2 case needs the appProtocol to have reached checkout's proxy with its port's policy.
  await eventually(async () => (await curl('--http2-prior-knowledge', `http://${FRONT_IP}:${ingress.outboundPort}/checkout`)).status === 201, 15_000, 'appProtocol known to checkout');
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(proxies.map((p) => p.stop()));
  app?.closeAllConnections();
  await new Promise((r) => app?.close(r));
  await cp?.close();
});

describe('the front door accepts what clients send', () => {
  const order = '{"item":"book","quantity":2}';
  const post = () => ['-X', 'POST', '-H', 'content-type: application/json', '-d', order, `http://${FRONT_IP}:${ingress.outboundPort}/checkout`];

  it.each([
    ['--http1.1', '1.1'],
    // curl offers `Upgrade: h2c`; the front door declines and answers in HTTP/1.1.
    ['--http2', '1.1'],
    ['--http2-prior-knowledge', '2'],
  ])('curl %s reaches the HTTP/1.1 checkout app over mTLS and gets its answer', async (flag, answeredIn) => {
    const r = await curl(flag, ...post());
    expect(r.status, r.body).toBe(201);
    expect(r.version).toBe(answeredIn);
    const seen = JSON.parse(r.body) as Seen;
    expect(seen).toEqual({
      httpVersion: '1.1',
      method: 'POST',
      body: order,
      upgrade: null,
      http2Settings: null,
      clientId: 'spiffe://cluster.local/ns/production/sa/ingress',
    });
  });

  it('serves several h2c-offering requests on one connection as HTTP/1.1 (the connection is never a tunnel)', async () => {
    const url = `http://${FRONT_IP}:${ingress.outboundPort}/checkout`;
    const { stdout, stderr } = await run('curl', ['-sv', '--http2', '--max-time', '10', url, url, '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code}\n']);
    expect(stdout.trim().split('\n')).toEqual(['201', '201']);
    expect(stderr).toMatch(/Re-using existing connection/);
    expect(stderr).not.toMatch(/101 Switching Protocols/);
  });

  it('keeps a non-h2c Upgrade (WebSocket) on the tunnel path: the app answers it, not the front door', async () => {
    // node:http without an 'upgrade' listener closes the socket: the request went to the app as
    // an upgrade, not as a plain request (which would be a 201).
    const r = await curl('--http1.1', '-H', 'connection: upgrade', '-H', 'upgrade: websocket', `http://${FRONT_IP}:${ingress.outboundPort}/checkout`).catch((err: { stdout?: string }) => ({ status: 0, version: '', body: err.stdout ?? '' }));
    expect(r.status).not.toBe(201);
  });
});
