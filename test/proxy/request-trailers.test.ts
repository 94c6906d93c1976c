// Request trailers carried to the app: a node:http client's chunked request with trailers
// (`req.addTrailers`) through an outbound and an inbound proxy to a node:http app, which reads
// them as `req.trailers`; and an HTTP/2 client's trailers to an HTTP/1.1 app (a port whose
// policy says `appProtocol: http/1.1`), sent on as a chunked request's trailer section.
import { request as httpRequest } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../helpers/address-block.ts';
import { startHttp1App, type Http1App } from '../helpers/apps.ts';
import { startProxy, TestResolver, type RunningProxy } from '../helpers/proxy-harness.ts';
import { startAppBehindTwoProxies, type AppBehindProxies } from '../helpers/two-proxies.ts';

const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';

/** What the app's `/count` answers: the body's length, its trailers as node:http read them. */
interface Counted {
  bytes: number;
  trailers: Record<string, string>;
}

let mesh: AppBehindProxies<Http1App>;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { clientIp: `${NET}.1`, serverIp: `${NET}.2`, authority: AUTHORITY });
});
afterAll(async () => {
  await mesh?.close();
});

/** A chunked POST through the outbound proxy, `parts` written one by one, then `trailers`: what the app counted. */
function postWithTrailers(parts: string[], trailers: Record<string, string>): Promise<Counted> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: mesh.outbound.host, port: mesh.outbound.port, method: 'POST', path: '/count', agent: false, headers: { host: AUTHORITY, 'transfer-encoding': 'chunked', trailer: Object.keys(trailers).join(', ') } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Counted) : reject(new Error(`${res.statusCode}: ${text}`))));
      },
    );
    req.on('error', reject);
    for (const part of parts) req.write(part);
    req.addTrailers(trailers);
    req.end();
  });
}

describe('HTTP/1.1 request trailers through two proxies', () => {
  it('reach the app with the body', async () => {
    expect(await postWithTrailers(['hello ', 'world'], { 'x-checksum': 'abc123', 'x-count': '2' })).toEqual({ bytes: 11, trailers: { 'x-checksum': 'abc123', 'x-count': '2' }, method: 'POST' });
  });

  it('reach the app after an empty chunked body', async () => {
    expect(await postWithTrailers([], { 'x-checksum': 'empty' })).toEqual({ bytes: 0, trailers: { 'x-checksum': 'empty' }, method: 'POST' });
  });

  it("a caller's own l5d-client-id in its trailers does not reach the app (the inbound says who called, in the headers only)", async () => {
    const counted = await postWithTrailers(['x'], { 'l5d-client-id': 'spiffe://cluster.local/ns/kube-system/sa/admin', 'x-checksum': 'kept' });
    expect(counted.trailers).toEqual({ 'x-checksum': 'kept' });
  });

  it('a chunked body without trailers still arrives whole, and the connections carry on', async () => {
    expect(await postWithTrailers(['a', 'b', 'c'], {})).toEqual({ bytes: 3, trailers: {}, method: 'POST' });
    expect(await postWithTrailers(['again'], { 'x-after': '1' })).toEqual({ bytes: 5, trailers: { 'x-after': '1' }, method: 'POST' });
  });
});

describe('HTTP/2 request trailers to an HTTP/1.1 app', () => {
  const POD = `${NET}.20`;
  const resolver = new TestResolver();
  let app: Http1App;
  let inbound: RunningProxy;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    app = await startHttp1App(POD);
    const appPort = (app.server.address() as AddressInfo).port;
    resolver.inboundPolicy(appPort).set({ port: appPort, authorizations: [], defaultPolicy: 'all-unauthenticated', clusterNetworks: [], appProtocol: 'http/1.1' });
    // The proxy's own authorization, from the resolver's policy for the app port.
    inbound = await startProxy(POD, resolver, { args: ['--app-port', String(appPort)] });
    session = h2connect(`http://${POD}:${inbound.inboundPort}`);
  });
  afterAll(async () => {
    session?.close();
    await inbound?.close();
    await app?.close();
  });

  it('go on as the chunked request\'s trailer section', async () => {
    const stream = session.request({ ':method': 'POST', ':path': '/count', ':authority': 'web.production.svc.cluster.local' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'h2' }));
    stream.end('from h2');
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
    expect(JSON.parse(text)).toEqual({ bytes: 7, trailers: { 'x-checksum': 'h2' }, method: 'POST' });
  });
});
