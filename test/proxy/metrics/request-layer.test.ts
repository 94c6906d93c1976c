// The golden-metrics layer on real HTTP/1.1 and HTTP/2 traffic through the proxy's own server edges.
import { createServer, type Server } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ProxyError } from '../../../proxy/errors.ts';
import { onCancel } from '../../../proxy/http/cancel.ts';
import { stack, type Layer, type Service } from '../../../proxy/http/message.ts';
import { ProxyMetrics } from '../../../proxy/metrics/index.ts';
import { parsePrometheus } from '../../../api/prom-text.ts';
import { sumOf } from '../../../api/prom-samples.ts';
import { serveOnEdge, upstreamService } from '../../helpers/edge.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.1`;
const closers: Array<() => unknown> = [];
let upstream: string;
let h2origin: string;
/** Lets the streaming endpoint's test decide when the body ends. */
let finishStream: (() => void) | undefined;

beforeAll(async () => {
  const server: Server = createServer((req, res) => {
    req.resume();
    const [, kind, arg] = req.url!.split('/');
    if (kind === 'status') return res.writeHead(Number(arg), { 'x-kind': 'status' }).end('body');
    if (kind === 'stream') {
      res.writeHead(200);
      res.write('first chunk');
      finishStream = () => res.end('last chunk');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  upstream = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  closers.push(() => server.close());

  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    const [, kind, code] = String(headers[':path']).split('/');
    if (kind === 'only') {
      return stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': code, 'grpc-message': 'trailers only' }, { endStream: true });
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': code!, 'grpc-message': 'from trailers' }));
    stream.end(Buffer.from([0, 0, 0, 0, 1, 7]));
  });
  await new Promise<void>((r) => h2.listen(0, HOST, r));
  h2origin = `http://${HOST}:${(h2.address() as AddressInfo).port}`;
  closers.push(() => h2.close());
});

afterAll(() => closers.forEach((c) => c()));

async function scrape(metrics: ProxyMetrics) {
  return parsePrometheus(await metrics.text());
}

async function edgeFor(service: Service, ...layers: Layer[]) {
  const edge = await serveOnEdge(HOST, stack(service, ...layers), 'http/1.1');
  closers.push(edge.close);
  return edge.origin;
}

/** The endpoint tier's clients to `origin`, closed with the other test servers. */
function upstreamTo(origin: string): Service {
  const up = upstreamService(origin);
  closers.push(up.close);
  return up.service;
}

describe('request layer, HTTP/1.1', () => {
  it('counts exactly the requests and classifies 5xx as failures', async () => {
    const metrics = new ProxyMetrics();
    const origin = await edgeFor(upstreamTo(upstream), metrics.requestLayer());
    const statuses = [...Array(7).fill(200), ...Array(3).fill(500), 404];
    for (const status of statuses) {
      const res = await request(`${origin}/status/${status}`, { headers: { host: 'web.example:80' } });
      expect(res.statusCode).toBe(status);
      await res.body.text();
    }
    const s = await scrape(metrics);
    const base = { direction: 'inbound', authority: 'web.example:80', tls: 'false' };
    expect(sumOf(s, 'request_total', base)).toBe(11);
    expect(sumOf(s, 'response_total', { ...base, status_code: '200', classification: 'success' })).toBe(7);
    expect(sumOf(s, 'response_total', { ...base, status_code: '500', classification: 'failure' })).toBe(3);
    expect(sumOf(s, 'response_total', { ...base, status_code: '404', classification: 'success' })).toBe(1);
    expect(sumOf(s, 'response_total', { grpc_status: null })).toBe(11);
    expect(sumOf(s, 'response_latency_ms_count', base)).toBe(11);
    expect(sumOf(s, 'response_latency_ms_bucket', { ...base, le: '+Inf' })).toBe(11);
  });

  it('passes the body stream through untouched and counts the response only when it ends', async () => {
    const metrics = new ProxyMetrics();
    const inner = upstreamTo(upstream);
    const seen: Array<{ inner: unknown; outer: unknown }> = [];
    let innerBody: unknown;
    const spyInner: Service = async (req) => {
      const res = await inner(req);
      innerBody = res.body;
      return res;
    };
    const layered = metrics.requestLayer()(spyInner);
    const origin = await edgeFor(async (req) => {
      const res = await layered(req);
      seen.push({ inner: innerBody, outer: res.body });
      return res;
    });
    const res = await request(`${origin}/stream`);
    const reader = res.body[Symbol.asyncIterator]();
    expect(String((await reader.next()).value)).toBe('first chunk');
    expect(seen[0]!.outer).toBe(seen[0]!.inner); // the same stream object: no copy, no buffer
    let s = await scrape(metrics);
    expect(sumOf(s, 'request_total')).toBe(1);
    expect(sumOf(s, 'response_latency_ms_count')).toBe(1); // headers are in
    expect(sumOf(s, 'response_total')).toBe(0); // body is not over yet
    finishStream!();
    for await (const _ of { [Symbol.asyncIterator]: () => reader });
    await new Promise((r) => setTimeout(r, 20));
    s = await scrape(metrics);
    expect(sumOf(s, 'response_total', { status_code: '200', classification: 'success' })).toBe(1);
  });

  it('counts a client that leaves mid-body as a cancelled failure', async () => {
    const metrics = new ProxyMetrics();
    const origin = await edgeFor(upstreamTo(upstream), metrics.requestLayer());
    const abort = new AbortController();
    const res = await request(`${origin}/stream`, { signal: abort.signal });
    res.body.on('error', () => {});
    await new Promise((r) => res.body.once('data', r));
    abort.abort();
    await expect.poll(async () => sumOf(await scrape(metrics), 'response_total', { classification: 'failure', error: 'CANCELLED' })).toBe(1);
    finishStream!();
  });

  it('counts a ProxyError from the inner service as its status, a failure, and rethrows it', async () => {
    const metrics = new ProxyMetrics();
    const failing: Service = async () => {
      throw new ProxyError('NO_ENDPOINTS', 'service web.example:80 has no endpoints');
    };
    const origin = await edgeFor(failing, metrics.requestLayer());
    const res = await request(`${origin}/x`, { headers: { host: 'web.example:80' } });
    expect(res.statusCode).toBe(503); // rethrown: the edge still answered with the error
    expect(res.headers['l5d-proxy-error']).toMatch(/no endpoints/);
    await res.body.text();
    const s = await scrape(metrics);
    expect(sumOf(s, 'response_total', { status_code: '503', classification: 'failure', error: 'NO_ENDPOINTS' })).toBe(1);
    expect(sumOf(s, 'response_latency_ms_count')).toBe(1);
  });

  it('counts a client that leaves before the response as CANCELLED, not as the error it caused below', async () => {
    const metrics = new ProxyMetrics();
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    const waitsForever: Service = (req) =>
      new Promise((_, reject) => {
        arrived();
        onCancel(req.signal, { onCancel: () => reject(new ProxyError('UPSTREAM_RESET', 'request cancelled by the client')) });
      });
    const origin = await edgeFor(waitsForever, metrics.requestLayer());
    const abort = new AbortController();
    const pending = request(`${origin}/slow`, { signal: abort.signal }).catch(() => 'aborted');
    await inFlight;
    // Counted once its labels are complete, i.e. when it is answered (or failed), not on arrival.
    expect(sumOf(await scrape(metrics), 'request_total')).toBe(0);
    abort.abort();
    expect(await pending).toBe('aborted');
    await expect.poll(async () => sumOf(await scrape(metrics), 'response_total', { status_code: '502', classification: 'failure', error: 'CANCELLED' })).toBe(1);
    expect(sumOf(await scrape(metrics), 'request_total', { status_code: null })).toBe(1);
  });

  it('uses ctx.isFailure, the route and the endpoint\'s dst_* labels set by an inner layer, on requests and responses alike', async () => {
    const metrics = new ProxyMetrics();
    const routeLayer: Layer = (inner) => (req) => {
      req.ctx.route = 'GET /status/{code}';
      req.ctx.isFailure = (status) => status === 404;
      req.ctx.dstLabels = { service: 'web', namespace: 'prod', deployment: 'web-v1', pod: 'web-v1-0', zone: 'not exported' };
      req.ctx.labels.not_allowlisted = 'dropped';
      return inner(req);
    };
    const origin = await edgeFor(upstreamTo(upstream), metrics.requestLayer(), routeLayer);
    for (const status of [404, 500]) await (await request(`${origin}/status/${status}`)).body.text();
    const s = await scrape(metrics);
    const route = { route: 'GET /status/{code}', dst_service: 'web', dst_namespace: 'prod', dst_deployment: 'web-v1', dst_pod: 'web-v1-0' };
    expect(sumOf(s, 'response_total', { ...route, status_code: '404', classification: 'failure' })).toBe(1);
    expect(sumOf(s, 'response_total', { ...route, status_code: '500', classification: 'success' })).toBe(1);
    expect(sumOf(s, 'request_total', route), 'the requests carry the labels set below them too').toBe(2);
    expect(sumOf(s, 'request_total'), 'and are counted in no other series').toBe(2);
    expect(s.some((x) => 'not_allowlisted' in x.labels || 'dst_zone' in x.labels || 'zone' in x.labels)).toBe(false);
  });

  it('folds authorities past the cap into "other"', async () => {
    const metrics = new ProxyMetrics({ maxAuthorities: 3 });
    const origin = await edgeFor(upstreamTo(upstream), metrics.requestLayer());
    for (let i = 0; i < 6; i++) {
      await (await request(`${origin}/status/200`, { headers: { host: `svc${i}.example` } })).body.text();
    }
    await (await request(`${origin}/status/200`, { headers: { host: 'SVC0.example' } })).body.text();
    const s = await scrape(metrics);
    const authorities = new Set(s.filter((x) => x.name === 'request_total').map((x) => x.labels.authority));
    expect([...authorities].sort()).toEqual(['other', 'svc0.example', 'svc1.example', 'svc2.example']);
    expect(sumOf(s, 'request_total', { authority: 'svc0.example' })).toBe(2);
    expect(sumOf(s, 'request_total', { authority: 'other' })).toBe(3);
    expect(sumOf(s, 'metrics_label_capped', { label: 'authority' })).toBe(1);
    expect(sumOf(s, 'metrics_label_capped', { label: 'identity' })).toBe(0);
  });
});

describe('request layer, gRPC over HTTP/2', () => {
  it('reads grpc-status from trailers and from trailers-only responses', async () => {
    const metrics = new ProxyMetrics();
    const edge = await serveOnEdge(HOST, stack(upstreamTo(h2origin), metrics.requestLayer()), 'h2');
    closers.push(edge.close);
    const client = http2.connect(edge.origin);
    closers.push(() => client.close());
    const call = (path: string) =>
      new Promise<{ status: string | undefined }>((resolve, reject) => {
        const st = client.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
        let status: string | undefined;
        st.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
        st.on('trailers', (t) => (status = t['grpc-status'] as string));
        st.on('error', reject);
        st.on('close', () => resolve({ status }));
        st.resume();
        st.end();
      });
    expect((await call('/trailers/0')).status).toBe('0');
    expect((await call('/trailers/5')).status).toBe('5');
    expect((await call('/only/5')).status).toBe('5');
    expect((await call('/only/0')).status).toBe('0');
    await expect
      .poll(async () => sumOf(await scrape(metrics), 'response_total'))
      .toBe(4);
    const s = await scrape(metrics);
    expect(sumOf(s, 'response_total', { status_code: '200', grpc_status: '0', classification: 'success' })).toBe(2);
    expect(sumOf(s, 'response_total', { status_code: '200', grpc_status: '5', classification: 'failure' })).toBe(2);
  });

  it('counts a ProxyError on a gRPC request as HTTP 200 with its gRPC status', async () => {
    const metrics = new ProxyMetrics();
    const timeout: Service = async () => {
      throw new ProxyError('RESPONSE_TIMEOUT', 'route timeout 100ms');
    };
    const edge = await serveOnEdge(HOST, stack(timeout, metrics.requestLayer()), 'h2');
    closers.push(edge.close);
    const client = http2.connect(edge.origin);
    closers.push(() => client.close());
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
      const st = client.request({ ':method': 'POST', ':path': '/svc/Method', 'content-type': 'application/grpc' });
      st.on('response', resolve);
      st.end();
    });
    expect(headers['grpc-status']).toBe('4');
    const s = await scrape(metrics);
    expect(sumOf(s, 'response_total', { status_code: '200', grpc_status: '4', classification: 'failure', error: 'RESPONSE_TIMEOUT' })).toBe(1);
  });
});
