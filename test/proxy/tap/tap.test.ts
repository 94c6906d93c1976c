// Tap through two real proxies over real mTLS: a tapper with the viz's certificate sees each
// request's start, response and end with both ends named; filters, redaction, bounds, refusals.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { connect as h2connect, constants } from 'node:http2';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StopFailures } from '../../helpers/teardown.ts';
import { openTap, type OpenTap } from '../../../api/tap-client.ts';
import type { ObserveRequest, TapEvent } from '../../../api/tap-proto.ts';
import type { StaticCredentials } from '../../../proxy/identity/static-credentials.ts';
import { startH2App, startHttp1App, type Http1App } from '../../helpers/apps.ts';
import { echoClient, startGrpcEcho } from '../../helpers/grpc-echo.ts';
import { testPki, type TestPki } from '../../helpers/pki.ts';
import { startTwoProxies, type ProxyHandle, type TwoProxies } from '../../helpers/two-proxies.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
/** NET inside a regular expression. */
const NET_RE = NET.replaceAll('.', '\\.');

const CLIENT_IP = `${NET}.1`;
const SERVER_IP = `${NET}.2`;
const WEB = 'web.production.svc.cluster.local:8080';
const GRPC = 'echo.production.svc.cluster.local:9090';
const H2 = 'h2.production.svc.cluster.local:8443';

let pki: TestPki;
let viz: StaticCredentials;
let mesh: TwoProxies;
let web: Http1App;
let http: Client;
const opened: OpenTap[] = [];

beforeAll(async () => {
  pki = await testPki();
  viz = await pki.credentialsFor('mesh-viz/tap');
  const client = await pki.credentialsFor('production/checkout');
  const server = await pki.credentialsFor('production/orders');
  web = await startHttp1App(SERVER_IP);
  const h2app = await startH2App(SERVER_IP);
  const grpcApp = await startGrpcEcho(SERVER_IP);
  mesh = await startTwoProxies({
    clientIp: CLIENT_IP,
    serverIp: SERVER_IP,
    services: [
      { authority: WEB, port: web.port },
      { authority: GRPC, port: grpcApp.port },
      { authority: H2, port: h2app.port },
    ],
    apps: [web, h2app, grpcApp],
    mtls: { client, server },
    args: ['--pod-namespace', 'production'],
  });
  http = new Client(mesh.proxyUrl);
});

// Each part is stopped even when an earlier one failed to stop: a tap that throws on cancel must not
// leave the proxies (and the apps they own) running.
afterAll(async () => {
  const failures = new StopFailures();
  for (const [i, t] of opened.entries()) await failures.attempt(`tap ${i}`, () => { t.cancel(); t.close(); });
  await failures.attempt('client', () => http?.close());
  await failures.attempt('proxies and apps', () => mesh?.close());
  failures.throwIfAny('tap teardown');
});

function tapAddress(p: ProxyHandle): string {
  const at = p.proxy!.address.tap;
  if (!at) throw new Error('the proxy has no tap server');
  return `${at.address}:${at.port}`;
}

function tap(p: ProxyHandle, request: ObserveRequest, creds: StaticCredentials = viz): OpenTap {
  const { key, cert } = creds.current();
  const t = openTap({ address: tapAddress(p), key: key as string, cert: cert as string, trustAnchorsPem: pki.anchorPem, proxyIdentity: p.proxy!.credentials!.identity }, request);
  opened.push(t);
  return t;
}

/** Reads events until `done` says so (or the stream ends); cancels the tap afterwards. */
async function collect(t: OpenTap, done: (events: TapEvent[]) => boolean): Promise<TapEvent[]> {
  const events: TapEvent[] = [];
  try {
    for await (const e of t.events) {
      events.push(e);
      if (done(events)) break;
    }
  } finally {
    t.cancel();
  }
  return events;
}

/** Resolves once the proxy has `n` taps open (a tap registers when its call reaches the server). */
async function tapsOpen(p: ProxyHandle, n: number): Promise<void> {
  await expect.poll(() => p.proxy!.taps.taps.length, { timeout: 10_000 }).toBe(n);
}

const ends = (events: TapEvent[]) => events.filter((e) => e.event === 'responseEnd').length;

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await http.request({ path, method: 'GET', headers: { host: WEB, ...headers } });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('tap through two proxies', () => {
  it('reports request, response and end on both proxies, with both ends named, over mTLS; credentials redacted', async () => {
    const out = tap(mesh.outbound, { match: { http: { pathPrefix: '/headers' } } });
    const inn = tap(mesh.inbound, { match: { http: { pathPrefix: '/headers' } } });
    await Promise.all([out.opened, inn.opened]);
    const outEvents = collect(out, (e) => ends(e) >= 1);
    const inEvents = collect(inn, (e) => ends(e) >= 1);
    const res = await get('/headers?x=1', { authorization: 'Bearer secret-token', cookie: 'session=abc', 'x-user': 'ann' });
    expect(res.status).toBe(200);

    for (const [events, direction] of [[await outEvents, 'OUTBOUND'], [await inEvents, 'INBOUND']] as const) {
      expect(events.map((e) => e.event)).toEqual(['requestInit', 'responseInit', 'responseEnd']);
      expect(new Set(events.map((e) => e.requestId)).size).toBe(1);
      for (const e of events) {
        expect(e.proxyDirection).toBe(direction);
        expect(e.tls).toBe(true);
      }
      const [req, rsp, end] = events as [TapEvent & { event: 'requestInit' }, TapEvent & { event: 'responseInit' }, TapEvent & { event: 'responseEnd' }];
      expect(req.requestInit).toMatchObject({ method: 'GET', authority: WEB, path: '/headers?x=1', protocol: 'http/1.1' });
      const reqHeaders = Object.fromEntries(req.requestInit.headers.map((h) => [h.name, h.value]));
      expect(reqHeaders.authorization).toBe('[redacted]');
      expect(reqHeaders.cookie).toBe('[redacted]');
      expect(reqHeaders['x-user']).toBe('ann');
      expect(JSON.stringify(events)).not.toContain('secret-token');
      expect(rsp.responseInit.httpStatus).toBe(200);
      expect(rsp.responseInit.headers.filter((h) => h.name === 'set-cookie').map((h) => h.value)).toEqual(['[redacted]', '[redacted]']);
      expect(end.responseEnd.responseBytes).toBe(Buffer.byteLength(res.body));
      expect(end.responseEnd.sinceRequestInitUs).toBeGreaterThanOrEqual(rsp.responseInit.sinceRequestInitUs);
      expect(end.responseEnd.grpcStatus).toBeNull();
      expect(end.responseEnd.error).toBe('');
    }
    const [outReq] = await outEvents;
    expect(outReq!.source).toMatchObject({ identity: 'spiffe://cluster.local/ns/production/sa/checkout', namespace: 'production' });
    expect(outReq!.destination).toMatchObject({ identity: 'spiffe://cluster.local/ns/production/sa/orders', address: `${SERVER_IP}:${web.port}`, service: WEB, namespace: 'production' });
    const [inReq] = await inEvents;
    expect(inReq!.source).toMatchObject({ identity: 'spiffe://cluster.local/ns/production/sa/checkout', namespace: 'production' });
    expect(inReq!.source!.address).toMatch(new RegExp(String.raw`^${NET_RE}\.1:\d+$`));
    expect(inReq!.destination).toMatchObject({ identity: 'spiffe://cluster.local/ns/production/sa/orders', address: `${SERVER_IP}:${web.port}` });
    await tapsOpen(mesh.outbound, 0);
    await tapsOpen(mesh.inbound, 0);
  });

  it('gRPC: the end event carries the grpc-status from the trailers; HTTP/2 is reported as h2', async () => {
    const t = tap(mesh.outbound, { match: { direction: 'OUTBOUND' } });
    await t.opened;
    const events = collect(t, (e) => ends(e) >= 2);
    const echo = echoClient(`${CLIENT_IP}:${mesh.outbound.port}`, GRPC);
    await expect(new Promise((resolve, reject) => echo.Unary({ text: 'no', failCode: 9 }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))))).rejects.toMatchObject({ code: 9 });
    await new Promise((resolve, reject) => echo.Unary({ text: 'yes' }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
    echo.close();
    const got = (await events).filter((e) => e.event === 'responseEnd') as Array<TapEvent & { event: 'responseEnd' }>;
    expect(got.map((e) => e.responseEnd.grpcStatus?.code)).toEqual([9, 0]);
    const init = (await events).find((e) => e.event === 'requestInit') as TapEvent & { event: 'requestInit' };
    expect(init.requestInit).toMatchObject({ method: 'POST', path: '/meshtest.Echo/Unary', protocol: 'h2' });
    await tapsOpen(mesh.outbound, 0);
  });

  it('HTTP/2 (h2c): reported as h2, with the response body bytes, whatever the trailers', async () => {
    const t = tap(mesh.inbound, { match: { http: { authority: H2 } } });
    await t.opened;
    const events = collect(t, (e) => ends(e) >= 1);
    const session = h2connect(`http://${CLIENT_IP}:${mesh.outbound.port}`);
    session.on('error', () => {});
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/echo', ':authority': H2 });
      let got = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (got += d));
      stream.on('end', () => resolve(got));
      stream.on('error', reject);
      stream.end('twelve bytes');
    });
    session.close();
    expect(body).toBe('twelve bytes');
    const all = await events;
    expect(all.map((e) => e.event)).toEqual(['requestInit', 'responseInit', 'responseEnd']);
    expect((all[0] as TapEvent & { event: 'requestInit' }).requestInit).toMatchObject({ method: 'POST', path: '/echo', protocol: 'h2' });
    expect((all[2] as TapEvent & { event: 'responseEnd' }).responseEnd.responseBytes).toBe(12);
    await tapsOpen(mesh.inbound, 0);
  });

  it('HTTP/2: a client that resets its stream mid-body is reported on both proxies as CANCELLED, not as a whole response', async () => {
    const taps = [tap(mesh.outbound, { match: { http: { authority: H2 } } }), tap(mesh.inbound, { match: { http: { authority: H2 } } })];
    await Promise.all(taps.map((t) => t.opened));
    const events = taps.map((t) => collect(t, (e) => ends(e) >= 1));
    const session = h2connect(`http://${CLIENT_IP}:${mesh.outbound.port}`);
    session.on('error', () => {});
    try {
      // The echo app sends back what it reads: the first chunk comes back, then the client gives up.
      await new Promise<void>((resolve) => {
        const stream = session.request({ ':method': 'POST', ':path': '/echo', ':authority': H2 });
        stream.on('error', () => {});
        stream.once('data', () => {
          stream.close(constants.NGHTTP2_CANCEL);
          resolve();
        });
        stream.write('the first chunk');
      });
      for (const e of await Promise.all(events)) {
        const end = e.find((x) => x.event === 'responseEnd') as TapEvent & { event: 'responseEnd' };
        expect(end.responseEnd).toMatchObject({ error: 'CANCELLED', responseBytes: 15 });
      }
    } finally {
      session.close();
    }
    await tapsOpen(mesh.outbound, 0);
    await tapsOpen(mesh.inbound, 0);
  });

  it('a tap whose gRPC deadline passes ends with DEADLINE_EXCEEDED and frees its slot', async () => {
    const { key, cert } = viz.current();
    const t = openTap({ address: tapAddress(mesh.inbound), key: key as string, cert: cert as string, trustAnchorsPem: pki.anchorPem, deadline: Date.now() + 1_500 }, { match: { http: { pathPrefix: '/nothing-goes-here' } } });
    opened.push(t);
    // The proxy's headers come as soon as it holds the tap, with no request matching yet.
    await t.opened;
    expect(mesh.inbound.proxy!.taps.taps).toHaveLength(1);
    await expect(collect(t, () => false)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    await tapsOpen(mesh.inbound, 0);
  });

  it('filters: only what matches is reported (method, authority, path prefix, direction, destination, not)', async () => {
    const byPath = tap(mesh.inbound, { match: { all: { matches: [{ http: { pathPrefix: '/status/' } }, { http: { method: 'get' } }, { not: { http: { pathPrefix: '/status/5' } } }] } } });
    const byDst = tap(mesh.outbound, { match: { destination: { identity: 'spiffe://cluster.local/ns/production/sa/orders' } } });
    const none = tap(mesh.outbound, { match: { any: { matches: [{ destination: { pod: 'no-such-pod' } }, { direction: 'INBOUND' }] } }, durationMs: 1_500 });
    await Promise.all([byPath.opened, byDst.opened, none.opened]);
    const pathEvents = collect(byPath, (e) => ends(e) >= 1);
    const dstEvents = collect(byDst, (e) => ends(e) >= 3);
    const noneEvents = collect(none, () => false);
    await get('/hello');
    await get('/status/503');
    await get('/status/201');
    const pathOnes = (await pathEvents).filter((e) => e.event === 'requestInit') as Array<TapEvent & { event: 'requestInit' }>;
    expect(pathOnes.map((e) => e.requestInit.path)).toEqual(['/status/201']);
    expect((await dstEvents).filter((e) => e.event === 'requestInit')).toHaveLength(3);
    const ended = await noneEvents;
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ event: 'tapEnd', tapEnd: { reason: 'DURATION', matched: 0, dropped: 0 } });
    expect((ended[0] as TapEvent & { event: 'tapEnd' }).tapEnd.message).toMatch(/no request matched/);
    await tapsOpen(mesh.outbound, 0);
  });

  it('ends cleanly at its limit with a tap_end; a proxy error (refusal, failure) is reported with its code', async () => {
    const t = tap(mesh.outbound, { limit: 2, match: { http: { authority: WEB } } });
    await t.opened;
    const events = collect(t, () => false);
    await expect(get('/reset')).rejects.toThrow(); // the app breaks the response mid-way
    await get('/hello');
    await get('/hello'); // past the limit: not reported
    const all = await events;
    expect(all.map((e) => e.event)).toEqual(['requestInit', 'responseInit', 'responseEnd', 'requestInit', 'responseInit', 'responseEnd', 'tapEnd']);
    const end = all[2] as TapEvent & { event: 'responseEnd' };
    expect(end.responseEnd.error).not.toBe('');
    expect(all[6]).toMatchObject({ tapEnd: { reason: 'LIMIT', matched: 2 } });
    await tapsOpen(mesh.outbound, 0);
  });

  it('journeys: each layer notes its decision, outbound and inbound, only when asked', async () => {
    const out = tap(mesh.outbound, { journey: true, match: { http: { pathPrefix: '/journey' } } });
    const inn = tap(mesh.inbound, { journey: true, match: { http: { pathPrefix: '/journey' } } });
    const plain = tap(mesh.inbound, { match: { http: { pathPrefix: '/journey' } } });
    await Promise.all([out.opened, inn.opened, plain.opened]);
    const [o, i, p] = [collect(out, (e) => ends(e) >= 1), collect(inn, (e) => ends(e) >= 1), collect(plain, (e) => ends(e) >= 1)];
    await get('/journey');
    const journeyOf = (events: TapEvent[]) => (events.find((e) => e.event === 'responseEnd') as TapEvent & { event: 'responseEnd' }).responseEnd.journey;
    const outJourney = journeyOf(await o);
    expect(outJourney.map((j) => j.layer)).toEqual(expect.arrayContaining(['route', 'balancer', 'tls']));
    expect(outJourney.find((j) => j.layer === 'balancer')!.note).toContain(`${SERVER_IP}:${web.port}`);
    expect(outJourney.find((j) => j.layer === 'tls')!.note).toContain('spiffe://cluster.local/ns/production/sa/orders');
    const atUs = outJourney.map((j) => j.atUs);
    expect([...atUs].sort((a, b) => a - b)).toEqual(atUs);
    const inJourney = journeyOf(await i);
    expect(inJourney.map((j) => j.layer)).toEqual(['identity', 'policy', 'app']);
    expect(inJourney[0]!.note).toContain('spiffe://cluster.local/ns/production/sa/checkout');
    expect(inJourney[1]!.note).toMatch(/admitted by Server/);
    expect(journeyOf(await p)).toEqual([]);
    await tapsOpen(mesh.inbound, 0);
  });

  it('the rate cap: at most max_rps requests a second are reported, the rest counted in dropped', async () => {
    const t = tap(mesh.outbound, { maxRps: 2, durationMs: 4_000, match: { http: { pathPrefix: '/rate' } } });
    // The tap is held once its headers come (waiting for the proxy's count of taps could see the
    // previous test's tap, not yet let go, and send the first requests before this one is held).
    await t.opened;
    const events = collect(t, () => false);
    await Promise.all(Array.from({ length: 30 }, (_, i) => get(`/rate/${i}`)));
    // After a pause the cap has room again: the next request is reported, with the drops so far.
    await new Promise((r) => setTimeout(r, 1_200));
    await get('/rate/late');
    const all = await events;
    const end = all.at(-1) as TapEvent & { event: 'tapEnd' };
    expect(end.event).toBe('tapEnd');
    const paths = all.filter((e) => e.event === 'requestInit').map((e) => (e as TapEvent & { event: 'requestInit' }).requestInit.path);
    // Two at once, then two a second for at most the tap's four seconds.
    expect(paths.length).toBeGreaterThanOrEqual(3);
    expect(paths.length).toBeLessThanOrEqual(11);
    expect(paths.at(-1)).toBe('/rate/late');
    expect(end.tapEnd.matched).toBe(31);
    expect(end.tapEnd.dropped).toBe(31 - paths.length);
    expect(end.tapEnd.dropped).toBeGreaterThan(0);
    expect(end.tapEnd.message).toMatch(/dropped by the rate cap of 2\/s/);
    const late = all.filter((e) => e.event === 'responseEnd').at(-1)!;
    expect(late.dropped).toBe(end.tapEnd.dropped);
  });

  it('the concurrent-tap cap: the next tapper gets RESOURCE_EXHAUSTED naming the cap', async () => {
    const four = [1, 2, 3, 4].map(() => tap(mesh.inbound, {}));
    await Promise.all(four.map((t) => t.opened));
    const fifth = tap(mesh.inbound, {});
    await expect(fifth.opened).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    await expect(collect(fifth, () => true)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/most at once \(4\)/) });
    for (const t of four) t.cancel();
    await tapsOpen(mesh.inbound, 0);
  });

  it('refuses any identity but the viz with PERMISSION_DENIED saying who may tap', async () => {
    const rogue = await pki.credentialsFor('production/checkout');
    await expect(collect(tap(mesh.inbound, {}, rogue), () => true)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: 'only spiffe://cluster.local/ns/mesh-viz/sa/tap (the viz) may tap this proxy; the caller presented spiffe://cluster.local/ns/production/sa/checkout',
    });
    const otherMesh = await testPki();
    const stranger = await otherMesh.credentialsFor('mesh-viz/tap');
    await expect(collect(tap(mesh.inbound, {}, stranger), () => true)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringMatching(/presented no client certificate that chains to this mesh's trust anchors/),
    });
    expect(mesh.inbound.proxy!.taps.taps).toHaveLength(0);
  });

  it('refuses a malformed filter with INVALID_ARGUMENT naming the field', async () => {
    await expect(collect(tap(mesh.inbound, { match: { all: { matches: [{ http: {} as never }] } } }), () => true)).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/match\.all\[0\]\.http sets none of/),
    });
  });

  it('a caller speaking gRPC wrongly gets a status saying what was wrong, and holds no tap', async () => {
    const { key, cert } = viz.current();
    const at = mesh.inbound.proxy!.address.tap!;
    const session = h2connect(`https://${at.address}:${at.port}`, { key, cert, ca: pki.anchorPem, rejectUnauthorized: false });
    session.on('error', () => {});
    // One call; its trailers (or trailers-only headers) as the answer.
    const call = (path: string, contentType: string, body: Buffer) =>
      new Promise<{ status: string; message: string }>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': contentType });
        let answer: { status: string; message: string } | undefined;
        const take = (h: Record<string, unknown>) => {
          if (h['grpc-status'] !== undefined) answer = { status: String(h['grpc-status']), message: decodeURI(String(h['grpc-message'] ?? '')) };
        };
        stream.on('response', take);
        stream.on('trailers', take);
        stream.on('error', reject);
        stream.resume();
        stream.on('close', () => (answer ? resolve(answer) : reject(new Error('no grpc-status'))));
        stream.end(body);
      });
    const framed = (flag: number, message: Buffer) => {
      const prefix = Buffer.alloc(5);
      prefix[0] = flag;
      prefix.writeUInt32BE(message.length, 1);
      return Buffer.concat([prefix, message]);
    };
    try {
      expect(await call('/mesh.tap.v1.Tap/Nothing', 'application/grpc', framed(0, Buffer.alloc(0)))).toEqual({ status: String(grpc.status.UNIMPLEMENTED), message: expect.stringMatching(/serves \/mesh\.tap\.v1\.Tap\/Observe only, not \/mesh\.tap\.v1\.Tap\/Nothing/) });
      expect(await call('/mesh.tap.v1.Tap/Observe', 'text/plain', framed(0, Buffer.alloc(0)))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), message: 'content-type must be application/grpc, not text/plain' });
      expect(await call('/mesh.tap.v1.Tap/Observe', 'application/grpc', Buffer.from([0, 0, 0, 0, 9, 1, 2]))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), message: 'malformed ObserveRequest: the request ended inside its message' });
      expect(await call('/mesh.tap.v1.Tap/Observe', 'application/grpc', framed(1, Buffer.from([8, 1])))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), message: expect.stringMatching(/compressed; this server accepts identity encoding only/) });
      // Field 1 (limit) as a length-delimited field of 200 bytes, with 2 present: not a message.
      expect(await call('/mesh.tap.v1.Tap/Observe', 'application/grpc', framed(0, Buffer.from([0x0a, 200, 1, 2])))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), message: expect.stringMatching(/^malformed ObserveRequest: /) });
    } finally {
      session.close();
    }
    expect(mesh.inbound.proxy!.taps.taps).toHaveLength(0);
  });

  it('a grpc-timeout the caller sent ends its tap with DEADLINE_EXCEEDED from the proxy itself, and frees its slot', async () => {
    const { key, cert } = viz.current();
    const at = mesh.inbound.proxy!.address.tap!;
    const session = h2connect(`https://${at.address}:${at.port}`, { key, cert, ca: pki.anchorPem, rejectUnauthorized: false });
    session.on('error', () => {});
    try {
      // An empty ObserveRequest (every request, the proxy's bounds), and a deadline the raw caller does not enforce itself.
      const stream = session.request({ ':method': 'POST', ':path': '/mesh.tap.v1.Tap/Observe', 'content-type': 'application/grpc', 'grpc-timeout': '300m' });
      const opened = new Promise<unknown>((resolve) => stream.once('response', (h) => resolve(h[':status'])));
      const trailers = new Promise<Record<string, unknown>>((resolve) => stream.once('trailers', resolve));
      stream.resume();
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      expect(await opened).toBe(200);
      expect(await trailers).toMatchObject({ 'grpc-status': String(grpc.status.DEADLINE_EXCEEDED), 'grpc-message': encodeURI("the tap's deadline passed") });
      await tapsOpen(mesh.inbound, 0);
    } finally {
      session.close();
    }
  });

  it('a tapper that vanishes mid-tap (its process killed) frees its slot', async () => {
    const { key, cert } = viz.current();
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/tap-then-hang.ts', import.meta.url))], {
      env: { ...process.env, TAP_ADDRESS: tapAddress(mesh.inbound), TAP_KEY: key as string, TAP_CERT: cert as string, TAP_ANCHORS: pki.anchorPem },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await tapsOpen(mesh.inbound, 1);
    await get('/vanish');
    await expect.poll(() => out, { timeout: 10_000 }).toContain('event responseEnd');
    child.kill('SIGKILL');
    await tapsOpen(mesh.inbound, 0);
    await get('/after-vanish'); // and the request path is unharmed
  });
});

describe('journeys through a profile', () => {
  it('shows the route, its timeout budget and each retry attempt with its status', async () => {
    // Give WEB a retryable route with a timeout: a ServiceProfile added to the watched resources.
    const file = mesh.outbound.proxy!.config.endpointsFile!;
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { items: unknown[] };
    doc.items.push({
      apiVersion: 'linkerd.io/v1alpha2',
      kind: 'ServiceProfile',
      metadata: { name: WEB.replace(/:\d+$/, ''), namespace: 'production' },
      spec: {
        routes: [{ name: 'GET /status/{code}', condition: { method: 'GET', pathRegex: '/status/[0-9]+' }, responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }], timeout: '5s', isRetryable: true }],
        // A budget of about one retry at a time, so a request's attempts fit in its journey (32 entries).
        retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 1, ttl: '1s' },
      },
    });
    writeFileSync(file, JSON.stringify(doc));
    const t = tap(mesh.outbound, { journey: true, match: { http: { pathPrefix: '/status/503' } } });
    await t.opened;
    // Until the edit is seen, the request has no route; ask again until one has it.
    let journey: Array<{ layer: string; note: string }> = [];
    const events = (async () => {
      for await (const e of t.events) {
        if (e.event !== 'responseEnd') continue;
        journey = e.responseEnd.journey;
        if (journey.some((j) => j.layer === 'retry')) return;
      }
    })();
    await expect.poll(async () => {
      await get('/status/503');
      return journey.some((j) => j.layer === 'retry');
    }, { timeout: 15_000, interval: 200 }).toBe(true);
    await events;
    t.cancel();
    expect(journey[0]).toMatchObject({ layer: 'route', note: 'route "GET /status/{code}"' });
    expect(journey.find((j) => j.layer === 'timeout')!.note).toMatch(/5000 ms/);
    const attempts = journey.filter((j) => j.layer === 'retry').map((j) => j.note);
    expect(attempts[0]).toBe('attempt 1 -> HTTP 503; retrying');
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    // The last attempt says why there was no other: here the retry budget.
    expect(attempts.at(-1)).toMatch(/^attempt \d+ -> HTTP 503; not retrying: .*budget/);
    // The balancer picked an endpoint for the attempts that reached one.
    expect(journey.filter((j) => j.layer === 'balancer').length).toBeGreaterThanOrEqual(2);
  });
});

describe('tap and shutdown', () => {
  it('a proxy shutting down ends each tap with tap_end SHUTDOWN, not a broken stream', async () => {
    const t = tap(mesh.inbound, {});
    await t.opened;
    const events = collect(t, () => false);
    await mesh.inbound.proxy!.shutdown('test: shutdown ends taps');
    const all = await events;
    expect(all.at(-1)).toMatchObject({ event: 'tapEnd', tapEnd: { reason: 'SHUTDOWN' } });
  });
});
