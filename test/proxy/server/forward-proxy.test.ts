// The outbound listener as a forward proxy: absolute-form (undici ProxyAgent without tunnelling),
// CONNECT (ProxyAgent's default, HTTP/1 sniffed inside the tunnel), opaque TCP inside CONNECT,
// and a WebSocket upgrade, all through outbound then inbound.
import { createServer as createTcp, connect as tcpConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startHttp1App } from '../../helpers/apps.ts';
import { startTwoProxies, type TwoProxies } from '../../helpers/two-proxies.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { openTunnel } from '../../helpers/connect-tunnel.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const WEB = 'web.test.svc.cluster.local:8080';
const DB = 'db.test.svc.cluster.local:5432';
const WS = 'chat.test.svc.cluster.local:8081';
const SMTP = 'mail.test.svc.cluster.local:25';
let mesh: TwoProxies;

beforeAll(async () => {
  const app = await startHttp1App(`${NET}.8`);
  const tcpEcho = createTcp((s) => s.pipe(s));
  await new Promise<void>((r) => tcpEcho.listen(0, `${NET}.8`, r));
  // A server-first protocol: it speaks before the client does.
  const greeter = createTcp((s) => {
    s.write('220 mail ready\r\n');
    s.pipe(s);
  });
  await new Promise<void>((r) => greeter.listen(0, `${NET}.8`, r));
  const wss = new WebSocketServer({ host: `${NET}.8`, port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(binary ? m : `echo: ${m}`)));
  mesh = await startTwoProxies({
    clientIp: `${NET}.7`,
    serverIp: `${NET}.8`,
    services: [
      { authority: WEB, port: app.port },
      { authority: DB, port: (tcpEcho.address() as AddressInfo).port },
      { authority: WS, port: (wss.address() as AddressInfo).port },
      { authority: SMTP, port: (greeter.address() as AddressInfo).port },
    ],
    apps: [app, tcpEcho, greeter, wss],
    // Short, so the server-first case below does not wait long for the client's first bytes.
    args: ['--detect-timeout-ms', '300'],
  });
});
afterAll(() => mesh?.close());

describe('forward proxy modes', () => {
  it('absolute-form requests (undici ProxyAgent, proxyTunnel off)', async () => {
    const agent = new ProxyAgent({ uri: mesh.proxyUrl, proxyTunnel: false });
    try {
      const res = await request(`http://${WEB}/abs?q=1`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('hello GET /abs?q=1');
      const post = await request(`http://${WEB}/count`, { dispatcher: agent, method: 'POST', body: 'x'.repeat(1000) });
      expect(JSON.parse(await post.body.text()).bytes).toBe(1000);
    } finally {
      await agent.close();
    }
    expect(mesh.outbound.logs.some((l) => String(l.msg).startsWith(`CONNECT ${WEB}`))).toBe(false);
  });

  it('CONNECT tunnels (undici ProxyAgent default): HTTP/1 sniffed inside and routed', async () => {
    const agent = new ProxyAgent(mesh.proxyUrl);
    try {
      const res = await request(`http://${WEB}/tunnelled`, { dispatcher: agent });
      expect(await res.body.text()).toBe('hello GET /tunnelled');
    } finally {
      await agent.close();
    }
    expect(mesh.outbound.logs.some((l) => l.msg === `CONNECT ${WEB}: tunnel carries http1`)).toBe(true);
  });

  it('opaque TCP inside CONNECT reaches the target through the inbound proxy', async () => {
    const { socket, head, rest } = await openTunnel(mesh.outbound.port, mesh.outbound.host, DB);
    expect(head).toMatch(/^HTTP\/1.1 200/);
    expect(rest.length).toBe(0); // the target has been sent nothing, so it has said nothing
    const received: Buffer[] = [];
    const payload = Buffer.from([0, 1, 2, 3, 250, 251, 252, 0x0d, 0x0a]);
    socket.write(payload);
    await new Promise<void>((resolve) =>
      socket.on('data', (d: Buffer) => {
        received.push(d);
        if (Buffer.concat(received).length >= payload.length) resolve();
      }),
    );
    expect(Buffer.concat(received)).toEqual(payload);
    socket.destroy();
  });

  it('a server-first protocol inside CONNECT: after the detect timeout the tunnel opens and the greeting arrives', async () => {
    const socket = tcpConnect(mesh.outbound.port, mesh.outbound.host);
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.write(`CONNECT ${SMTP} HTTP/1.1\r\nHost: ${SMTP}\r\n\r\n`);
    await expect.poll(() => text, { timeout: 3000 }).toContain('220 mail ready\r\n');
    expect(text).toMatch(/^HTTP\/1.1 200 /);
    socket.write('HELO me\r\n');
    await expect.poll(() => text, { timeout: 3000 }).toContain('HELO me\r\n');
    socket.destroy();
    expect(mesh.outbound.logs.some((l) => l.msg === `CONNECT ${SMTP}: tunnel carries opaque` && l.timedOut === true)).toBe(true);
  });

  it('a WebSocket echo through both proxies', async () => {
    const ws = new WebSocket(`ws://${mesh.outbound.host}:${mesh.outbound.port}/chat`, { headers: { host: WS } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const replies: string[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on('message', (m) => {
        replies.push(m.toString());
        if (replies.length === 2) resolve();
      }),
    );
    ws.send('hello');
    ws.send(Buffer.from('binary frame'), { binary: true });
    await got;
    expect(replies).toEqual(['echo: hello', 'binary frame']);
    ws.close();
  });

  it('CONNECT to a target that is not host:port gets a 400 naming it', async () => {
    const socket = tcpConnect(mesh.outbound.port, mesh.outbound.host);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write('CONNECT not-a-target HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(answer).toMatch(/l5d-proxy-error: CONNECT target "not-a-target" is not host:port/);
  });
});
