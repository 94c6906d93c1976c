// The hop between the proxies over mTLS: the inbound listener tells a TLS ClientHello from
// plaintext, requires a client certificate chained to the trust anchors, picks the protocol by
// ALPN, and hands the caller's identity to the app as l5d-client-id (which nobody else may set).
import * as grpc from '@grpc/grpc-js';
import { connect as tlsConnect } from 'node:tls';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { connect as h2connect } from 'node:http2';
import { startH2App, startHttp1App } from '../helpers/apps.ts';
import { echoClient, startGrpcEcho } from '../helpers/grpc-echo.ts';
import { testPki, type TestPki } from '../helpers/pki.ts';
import type { StaticCredentials } from '../../proxy/identity/static-credentials.ts';
import { startTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const WEB = 'web.test.svc.cluster.local:8080';
const GRPC = 'echo.test.svc.cluster.local:9090';
const WS = 'chat.test.svc.cluster.local:8081';
const H2 = 'h2.test.svc.cluster.local:8443';
let mesh: TwoProxies;
let pki: TestPki;
/** Each pod's credentials, as its proxy holds them. */
let creds: { client: StaticCredentials; server: StaticCredentials };

beforeAll(async () => {
  pki = await testPki();
  creds = { client: await pki.credentialsFor('test/client'), server: await pki.credentialsFor('test/server') };
  const web = await startHttp1App(`${NET}.18`);
  const grpcApp = await startGrpcEcho(`${NET}.18`);
  const h2app = await startH2App(`${NET}.18`);
  const wss = new WebSocketServer({ host: `${NET}.18`, port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws, req) => ws.send(`hello ${req.headers['l5d-client-id'] ?? 'anonymous'}`));
  mesh = await startTwoProxies({
    clientIp: `${NET}.17`,
    serverIp: `${NET}.18`,
    services: [
      { authority: WEB, port: web.port },
      { authority: GRPC, port: grpcApp.port },
      { authority: WS, port: (wss.address() as AddressInfo).port },
      { authority: H2, port: h2app.port },
    ],
    apps: [web, grpcApp, h2app, wss],
    mtls: creds,
  });
});
afterAll(() => mesh?.close());

async function seenHeaders(via: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const c = new Client(via);
  try {
    const res = await c.request({ path: '/headers', method: 'GET', headers });
    const raw = (JSON.parse(await res.body.text()) as { raw: string[] }).raw;
    const out: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) out[raw[i]!.toLowerCase()] = raw[i + 1]!;
    return out;
  } finally {
    await c.close();
  }
}

describe('mTLS between the proxies', () => {
  it('HTTP/1.1: the app learns the caller identity from l5d-client-id; a spoofed one is replaced', async () => {
    const seen = await seenHeaders(mesh.proxyUrl, { host: WEB, 'l5d-client-id': 'spiffe://evil/ns/x/sa/y' });
    expect(seen['l5d-client-id']).toBe(creds.client.identity);
    const tls = (await mesh.outbound.metrics()).split('\n').filter((l) => l.startsWith('tcp_open_total{') && l.includes('peer="dst"'));
    expect(tls.some((l) => l.includes('tls="true"'))).toBe(true);
    expect(await mesh.inbound.metrics()).toMatch(/tcp_open_total\{[^}]*direction="inbound"[^}]*peer="src"[^}]*tls="true"/);
  });

  it('gRPC over h2 with mTLS', async () => {
    const c = echoClient(`${mesh.outbound.host}:${mesh.outbound.port}`, GRPC);
    try {
      const reply = await new Promise<{ text: string }>((resolve, reject) =>
        c.Unary({ text: 'secure' }, (err: grpc.ServiceError | null, r: { text: string }) => (err ? reject(err) : resolve(r))),
      );
      expect(reply.text).toBe('secure');
    } finally {
      c.close();
    }
  });

  it('HTTP/2 over mTLS (ALPN h2): the app sees the caller identity too', async () => {
    const session = h2connect(mesh.proxyUrl);
    session.on('error', () => {});
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const s = session.request({ ':path': '/echo', ':method': 'POST', ':authority': H2 });
      s.on('response', resolve);
      s.on('error', reject);
      s.resume();
      s.end('x');
    });
    session.close();
    expect(headers['x-seen-client-id']).toBe(creds.client.identity);
  });

  it('a WebSocket rides the opaque transport (ALPN transport.l5d.io/v1)', async () => {
    const ws = new WebSocket(`ws://${mesh.outbound.host}:${mesh.outbound.port}/`, { headers: { host: WS } });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (m) => resolve(m.toString()));
      ws.once('error', reject);
    });
    ws.close();
    // Tunnels carry bytes only: the app sees no proxy-added headers.
    expect(first).toBe('hello anonymous');
  });

  it('plaintext clients outside the mesh still reach the app, with no identity', async () => {
    const seen = await seenHeaders(`http://${mesh.inbound.host}:${mesh.inbound.port}`, { host: WEB, 'l5d-client-id': 'spiffe://forged' });
    expect(seen['l5d-client-id']).toBeUndefined();
  });

  it('a renewed certificate is served on new handshakes without a restart', async () => {
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: mesh.inbound.host, port: mesh.inbound.port, ...creds.client.current(), ca: pki.anchorPem, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
        s.on('secureConnect', () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.destroy();
        });
        s.on('error', reject);
      });
    const before = await serial();
    await pki.renew(creds.server);
    expect(await serial()).not.toBe(before);
  });

  it('a TLS client from another trust anchor is refused at the handshake', async () => {
    const other = await (await testPki()).credentialsFor('test/intruder');
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tlsConnect({
        host: mesh.inbound.host,
        port: mesh.inbound.port,
        ...other.current(),
        ca: other.trustAnchorsPem,
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      s.on('secureConnect', () => {
        s.write(`GET /headers HTTP/1.1\r\nHost: ${WEB}\r\n\r\n`);
      });
      s.on('data', () => resolve(undefined));
      s.on('error', (e) => resolve(e));
      s.on('close', () => resolve(new Error('closed')));
    });
    expect(err).toBeInstanceOf(Error);
    await expect.poll(() => mesh.inbound.logs.some((l) => /TLS connection from .* failed/.test(String(l.msg))), { timeout: 3000 }).toBe(true);
  });
});
