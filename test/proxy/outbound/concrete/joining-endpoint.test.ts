// An endpoint that joins a balancer already serving (a new pod in a rollout) over real mTLS
// connections: it takes no request until its first connection is up, and, until it has answered
// once, one request at a time, so a cold pod never holds a crowd of requests.
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint, EndpointSet } from '../../../../api/destination-types.ts';
import { Watched } from '../../../../proxy/discovery/watched.ts';
import { createBalancer } from '../../../../proxy/outbound/concrete/balancer.ts';
import { EndpointConnector } from '../../../../proxy/outbound/endpoint/connector.ts';
import { addressBlock } from '../../../helpers/address-block.ts';
import { eventually } from '../../../helpers/control-plane.ts';
import { SwappableCredentials, TestPki } from '../endpoint/fixtures/certs.ts';
import { meshRequest, quietLogger, readBody } from '../endpoint/fixtures/harness.ts';

const NET = await addressBlock();
const ORDERS = 'spiffe://cluster.local/ns/production/sa/orders';
const CHECKOUT = 'spiffe://cluster.local/ns/production/sa/checkout';

let pki: TestPki;
const closers: Array<() => void> = [];

/** An mTLS HTTP/1.1 server standing for a pod's inbound proxy; `answer` decides when each request is answered. */
async function inbound(host: string, answer: (res: import('node:http').ServerResponse) => void): Promise<{ port: number; served: () => number }> {
  const leaf = pki.leaf(ORDERS);
  let served = 0;
  const server = https.createServer({ key: leaf.key, cert: leaf.cert, ca: pki.caPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.3' }, (_req, res) => {
    served++;
    answer(res);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, host, r));
  closers.push(() => server.closeAllConnections(), () => server.close());
  return { port: (server.address() as AddressInfo).port, served: () => served };
}

/** A TCP front for `port` that holds every connection (its TLS handshake with it) until open() is called. */
async function gate(host: string, port: number): Promise<{ port: number; open(): void; held: () => number }> {
  let opened = false;
  const waiting: net.Socket[] = [];
  const join = (socket: net.Socket) => {
    const upstream = net.connect(port, host);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  };
  const server = net.createServer((socket) => (opened ? join(socket) : waiting.push(socket)));
  await new Promise<void>((r) => server.listen(0, host, r));
  closers.push(() => waiting.forEach((s) => s.destroy()), () => server.close());
  return {
    port: (server.address() as AddressInfo).port,
    held: () => waiting.length,
    open() {
      opened = true;
      waiting.splice(0).forEach(join);
    },
  };
}

/** A slow-start bound far beyond these tests, for those that watch slow start itself on a loaded machine. */
const SLOW_START_FOR_GOOD = 600_000;

const endpoint = (host: string, inboundPort: number): Endpoint => ({ address: `${host}:8080`, inboundPort, identity: ORDERS, weight: 1, labels: {} });

/** A balancer over real mTLS connections, preconnecting joining endpoints as the outbound stack does. */
function balancerOver(set: Watched<EndpointSet>, slowStartMs?: number) {
  const connector = new EndpointConnector({ logger: quietLogger, credentials: new SwappableCredentials(pki.leaf(CHECKOUT), pki.caPem) });
  closers.push(() => void connector.close(0));
  return createBalancer(set, (ep) => connector.service(ep), { authority: 'orders:8080', preconnect: (ep, protocol) => connector.preconnect(ep, protocol), slowStartMs });
}

const send = (svc: ReturnType<typeof createBalancer>) => svc(meshRequest({ protocol: 'http/1.1' })).then(async (res) => (await readBody(res), res.status));

/** `p`, or a failure naming `what` after `ms` (generous: these requests take milliseconds when nothing holds them). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

beforeAll(() => {
  pki = new TestPki();
});
afterAll(() => {
  for (const close of closers.splice(0)) close();
  pki.dispose();
});

describe('an endpoint joining a balancer that serves', () => {
  it('takes no request while its first connection is being opened', async () => {
    // The serving endpoint answers in 50 ms: slower than a new endpoint's starting estimate (30 ms),
    // so without the wait the balancer would prefer the newcomer for most of these requests.
    const a = await inbound(`${NET}.2`, (res) => setTimeout(() => res.end('a'), 50));
    const b = await inbound(`${NET}.3`, (res) => res.end('b'));
    const held = await gate(`${NET}.3`, b.port);
    const set = new Watched<EndpointSet>({ kind: 'endpoints', endpoints: [endpoint(`${NET}.2`, a.port)] });
    const svc = balancerOver(set, SLOW_START_FOR_GOOD);
    expect(await within(10_000, send(svc), 'first')).toBe(200);

    set.set({ kind: 'endpoints', endpoints: [endpoint(`${NET}.2`, a.port), endpoint(`${NET}.3`, held.port)] });
    // Every request is answered while the newcomer's handshake is held: none waits on it.
    const statuses = await within(10_000, Promise.all(Array.from({ length: 20 }, () => send(svc))), 'requests sent while the new endpoint connects');
    expect(statuses).toEqual(Array(20).fill(200));
    expect(held.held()).toBe(1); // the preconnect, and only it
    expect(b.served()).toBe(0);

    // Once its connection is up, it takes its share.
    held.open();
    await eventually(async () => (await Promise.all(Array.from({ length: 10 }, () => send(svc))), b.served() > 0), 20_000, 'the joined endpoint to serve');
  }, 60_000);

  it('takes one request at a time until it has answered once', async () => {
    const a = await inbound(`${NET}.4`, (res) => setTimeout(() => res.end('a'), 50));
    // The newcomer is cold: it holds its first request until the test lets it go.
    let release: (() => void) | undefined;
    const b = await inbound(`${NET}.5`, (res) => {
      if (!release) release = () => res.end('b');
      else res.end('b');
    });
    const set = new Watched<EndpointSet>({ kind: 'endpoints', endpoints: [endpoint(`${NET}.4`, a.port)] });
    const svc = balancerOver(set, SLOW_START_FOR_GOOD);
    expect(await within(10_000, send(svc), 'first')).toBe(200);

    set.set({ kind: 'endpoints', endpoints: [endpoint(`${NET}.4`, a.port), endpoint(`${NET}.5`, b.port)] });
    // Until its preconnect is done it takes nothing; then the first request it gets is held.
    const early: Array<Promise<number>> = [];
    await eventually(() => (early.push(send(svc)), release !== undefined), 20_000, 'a first request at the joined endpoint');
    // While that one is held, 30 more are sent at once: all go to the serving endpoint.
    const statuses = await within(10_000, Promise.all(Array.from({ length: 30 }, () => send(svc))), 'requests sent while the new endpoint holds its first');
    expect(statuses).toEqual(Array(30).fill(200));
    expect(b.served()).toBe(1);
    release!();
    expect(await within(10_000, Promise.all(early), 'the early requests')).toEqual(Array(early.length).fill(200));
    await eventually(async () => (await Promise.all(Array.from({ length: 10 }, () => send(svc))), b.served() > 3), 20_000, 'the joined endpoint to take more once it has answered');
  }, 60_000);

  it('is held back for at most the slow-start bound when its first request hangs', async () => {
    const a = await inbound(`${NET}.6`, (res) => setTimeout(() => res.end('a'), 20));
    // The newcomer never answers its first request (a stuck handler); it answers later ones.
    let stuck = 0;
    const b = await inbound(`${NET}.7`, (res) => {
      if (stuck++ > 0) res.end('b');
    });
    const set = new Watched<EndpointSet>({ kind: 'endpoints', endpoints: [endpoint(`${NET}.6`, a.port)] });
    // The bound, short for the test; the default is a few seconds.
    const svc = balancerOver(set, 1_000);
    expect(await within(10_000, send(svc), 'first')).toBe(200);

    set.set({ kind: 'endpoints', endpoints: [endpoint(`${NET}.6`, a.port), endpoint(`${NET}.7`, b.port)] });
    // Its first request reaches it and hangs there (not awaited: it never ends).
    await eventually(() => (void send(svc).catch(() => {}), b.served() === 1), 20_000, 'a first request at the joined endpoint');
    // Once the bound has passed it takes requests again, though its first has not been answered.
    await eventually(async () => (await Promise.all(Array.from({ length: 10 }, () => send(svc))), b.served() > 1), 20_000, 'the joined endpoint to take more after the slow-start bound');
  }, 60_000);
});
