// @grpc/grpc-js through the mesh to an app that speaks only HTTP/1.1, declared by its Service
// port's `appProtocol: http`: the client's HTTP/2 call is sent to the app as HTTP/1.1 by the
// app's inbound proxy, and the app's chunked response with trailers (grpc-status, grpc-message)
// comes back to the client as HTTP/2 trailers. Real CA, destination, proxies, client and app.
import * as grpc from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../helpers/address-block.ts';
import { controlPlane, eventually, proxyArgs, startProxy, type ControlPlane, type RunningProxy } from '../../helpers/control-plane.ts';
import { echoClient } from '../../helpers/grpc-echo.ts';

const ECHO = 'echo.production.svc.cluster.local:8080';

let cp: ControlPlane;
let app: Server;
const proxies: RunningProxy[] = [];
let stub: grpc.Client & Record<string, Function>;
/** The HTTP version each request reached the app in. */
const versions: string[] = [];

function unary(text: string): Promise<{ err: grpc.ServiceError | null; reply?: { text: string } }> {
  return new Promise((resolve) => stub.Unary({ text }, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, reply?: { text: string }) => resolve({ err, reply })));
}

beforeAll(async () => {
  const net = await addressBlock();
  cp = await controlPlane();
  writeFileSync(join(cp.resourcesDir, 'echo.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: production}\nspec:\n  selector: {app: echo}\n  ports: [{port: 8080, appProtocol: http}]\n');
  await cp.startIdentity(`${net}.1:0`);
  await cp.startDestination(`${net}.1:0`);
  // gRPC over HTTP/1.1 by hand (node:http has no HTTP/2): the request's length-prefixed message is
  // echoed back as the reply (EchoRequest and EchoReply share field 1, text), and the status goes
  // in trailers of a chunked response; text "missing" gets NOT_FOUND.
  app = createServer((req, res) => {
    versions.push(req.httpVersion);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const missing = body.includes(Buffer.from('missing'));
      res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status, grpc-message' });
      if (!missing) res.write(body);
      res.addTrailers(missing ? { 'grpc-status': '5', 'grpc-message': 'no such thing' } : { 'grpc-status': '0' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => app.listen(8080, `${net}.2`, resolve));
  proxies.push(await startProxy(proxyArgs(cp, { name: 'echo-0', serviceAccount: 'echo', ip: `${net}.2`, labels: { app: 'echo' }, ports: ['8080'] })));
  const client = await startProxy(proxyArgs(cp, { name: 'client-0', serviceAccount: 'client', ip: `${net}.3`, labels: { app: 'client' } }));
  proxies.push(client);
  stub = echoClient(`${client.ip}:${client.outboundPort}`, ECHO);
  await eventually(async () => (await unary('warm-up')).err === null, 20_000, 'a gRPC call answered through the mesh');
}, 60_000);

afterAll(async () => {
  stub?.close();
  await Promise.allSettled(proxies.map((p) => p.stop()));
  app?.closeAllConnections();
  await new Promise((r) => app?.close(r));
  await cp?.close();
});

describe('grpc-js to an HTTP/1.1 app declared appProtocol: http', () => {
  it('reaches the app as HTTP/1.1 and gets its reply and OK status back as HTTP/2', async () => {
    versions.length = 0;
    const r = await unary('hello over http/1.1');
    expect(r.err).toBeNull();
    expect(r.reply?.text).toBe('hello over http/1.1');
    expect(versions).toEqual(['1.1']);
  });

  it('carries the app\'s error status from HTTP/1.1 trailers to the client', async () => {
    const r = await unary('missing');
    expect(r.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(r.err?.details).toBe('no such thing');
  });
});
