// Linkerd's labels on real traffic: a real CA and destination, a client pod's proxy calling a
// web pod's proxy over mTLS. Every series names its own pod; outbound series name the endpoint
// that served them (dst_*, from the destination); one request's series agree on tls; per-route
// series count requests once (route_*) and attempts with retries (route_actual_*); hostile
// authorities and paths cannot grow the label sets.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshVersion } from '../../../api/locate.ts';
import { samplesOf, sumOf } from '../../../api/prom-samples.ts';
import { parsePrometheus, type Sample } from '../../../api/prom-text.ts';
import { controlPlane, eventually, proxyArgs, startProxy, type ControlPlane, type RunningProxy } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { serviceDoc, yamlDocuments } from '../../helpers/dev-resources.ts';

const NET = await addressBlock();
const WEB = 'web.production.svc.cluster.local:8080';
const WEB_ID = 'spiffe://cluster.local/ns/production/sa/web';
const SERVICE = yamlDocuments([serviceDoc({ name: 'web', namespace: 'production', app: 'web', ports: [{ port: 8080 }] })]);
const PROFILE = `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: web.production.svc.cluster.local, namespace: production}
spec:
  retryBudget: {retryRatio: 1.0, minRetriesPerSecond: 100, ttl: 10s}
  routes:
  - name: GET /flaky
    condition: {method: GET, pathRegex: /flaky}
    isRetryable: true
  - name: GET /ok
    condition: {method: GET, pathRegex: /ok}
`;

let cp: ControlPlane;
let client: RunningProxy;
let web: RunningProxy;
let app: Server;
let pool: Pool;
/** /flaky answers 503 and 200 in turn: each request fails once, and its retry succeeds. */
let flakyCalls = 0;

const scrape = async (p: RunningProxy): Promise<Sample[]> => parsePrometheus(await p.metrics());
/** Whether two samples are of one series: the same labels, whatever their order. */
const sameLabels = (a: Sample, b: Sample) => {
  const keys = Object.keys(a.labels);
  return keys.length === Object.keys(b.labels).length && keys.every((k) => a.labels[k] === b.labels[k]);
};

async function get(path: string, authority = WEB): Promise<number> {
  const res = await pool.request({ path, method: 'GET', headers: { host: authority } });
  await res.body.text();
  return res.statusCode;
}

beforeAll(async () => {
  cp = await controlPlane();
  writeFileSync(join(cp.resourcesDir, 'web.yaml'), SERVICE);
  writeFileSync(join(cp.resourcesDir, 'web-profile.yaml'), PROFILE);
  await cp.startIdentity(`${NET}.1:0`);
  await cp.startDestination(`${NET}.1:0`);
  app = createServer((req, res) => {
    req.resume();
    if (req.url === '/flaky' && flakyCalls++ % 2 === 0) return void res.writeHead(503).end('try again');
    res.end('ok');
  });
  await new Promise<void>((r) => app.listen(8080, `${NET}.3`, r));
  web = await startProxy(proxyArgs(cp, { name: 'web-0', serviceAccount: 'web', ip: `${NET}.3`, labels: { app: 'web' }, ports: ['8080'], args: ['--pod-deployment', 'web'] }));
  client = await startProxy(proxyArgs(cp, { name: 'client-0', serviceAccount: 'client', ip: `${NET}.2`, labels: { app: 'client' }, args: ['--pod-deployment', 'client'] }));
  pool = new Pool(`http://${NET}.2:${client.outboundPort}`, { connections: 8 });
  await eventually(async () => (await Promise.all([web.ready(), client.ready()])).every((r) => r.status === 200), 15_000, 'both proxies ready');
  // web-0 registered with the destination, and the client's proxy sees it.
  await eventually(async () => (await get('/ok')) === 200, 10_000, 'web reachable through the mesh');
}, 30_000);

afterAll(async () => {
  await pool?.close();
  await Promise.allSettled([client?.stop(), web?.stop()]);
  await new Promise((r) => (app ? app.close(r) : r(undefined)));
  await cp?.close();
});

describe('Linkerd\'s labels on real traffic', () => {
  it('every series carries its own proxy\'s namespace, deployment and pod; proxy_build_info names the version', async () => {
    for (const [proxy, deployment, pod] of [[client, 'client', 'client-0'], [web, 'web', 'web-0']] as const) {
      const samples = await scrape(proxy);
      const names = new Set(samples.map((s) => s.name));
      // The golden metrics, tcp, identity and process metrics alike.
      for (const name of ['request_total', 'response_total', 'response_latency_ms_bucket', 'tcp_open_total', 'process_resident_memory_bytes', 'identity_cert_expiration_timestamp_seconds']) {
        expect(names.has(name), `${pod} exports ${name}`).toBe(true);
      }
      const unlabelled = samples.filter((s) => s.labels.namespace !== 'production' || s.labels.deployment !== deployment || s.labels.pod !== pod);
      expect(unlabelled.map((s) => s.name), `${pod}: series without its own labels`).toEqual([]);
      expect(samplesOf(samples, 'proxy_build_info', { version: meshVersion() }).map((s) => s.value)).toEqual([1]);
    }
  });

  it('outbound series carry the serving endpoint\'s dst_* labels from the destination, and tls agrees on every series of a request', async () => {
    const before = await scrape(client);
    // response_total, not request_total: a response is counted when its body has closed in the
    // proxy, and nothing orders that before the client's read of the body's last byte (a
    // request is counted at its response's headers).
    const answered = (s: Sample[]) => sumOf(s, 'response_total', { direction: 'outbound', authority: WEB });
    for (let i = 0; i < 5; i++) expect(await get('/ok')).toBe(200);
    await expect.poll(async () => answered(await scrape(client)) - answered(before)).toBe(5);
    const s = await scrape(client);
    const edge = { direction: 'outbound', authority: WEB, tls: 'true', server_id: WEB_ID, dst_namespace: 'production', dst_service: 'web', dst_deployment: 'web', dst_pod: 'web-0' };
    // The series these five requests grew: not those of beforeAll's first tries, which may have
    // failed (tls="false", no dst_*) before the client's proxy knew of web-0 on a loaded machine.
    const grown = (name: string) => samplesOf(s, name, { direction: 'outbound', authority: WEB })
      .filter((now) => now.value > sumOf(samplesOf(before, name).filter((b) => sameLabels(b, now)), name));
    const requests = grown('request_total');
    const responses = grown('response_total');
    expect(requests.length).toBeGreaterThan(0);
    // Every outbound series to web these requests counted in, requests and responses, says mTLS and names web-0: none says tls="false".
    for (const series of [...requests, ...responses]) expect(series.labels).toMatchObject(edge);
    expect(sumOf(s, 'request_total', edge) - sumOf(before, 'request_total', edge)).toBe(5);
    expect(sumOf(s, 'request_total', edge)).toBe(sumOf(s, 'response_total', edge));
    expect(sumOf(s, 'response_latency_ms_count', edge)).toBe(sumOf(s, 'request_total', edge));
    // The connections to web-0's proxy are labelled alike.
    const hop = { direction: 'outbound', peer: 'dst', tls: 'true', server_id: WEB_ID, dst_namespace: 'production', dst_service: 'web', dst_deployment: 'web', dst_pod: 'web-0' };
    expect(sumOf(s, 'tcp_open_total', hop)).toBeGreaterThanOrEqual(1);
    expect(sumOf(s, 'tcp_open_total', { direction: 'outbound', peer: 'dst', dst_pod: null })).toBe(0);
    // Inbound series are web-0's own, never dst_*; its caller is named by client_id.
    const inbound = samplesOf(await scrape(web), 'request_total', { direction: 'inbound' });
    expect(inbound.length).toBeGreaterThan(0);
    for (const series of inbound) {
      expect(series.labels).toMatchObject({ tls: 'true', client_id: 'spiffe://cluster.local/ns/production/sa/client' });
      expect(Object.keys(series.labels).filter((k) => k.startsWith('dst_'))).toEqual([]);
    }
  });

  it('route series count each request once (route_*) and every attempt (route_actual_*): a retried route has actual > effective', async () => {
    const route = { direction: 'outbound', dst: WEB, rt_route: 'GET /flaky' };
    const before = await scrape(client);
    const delta = (s: Sample[], name: string, match: Record<string, string | null>) => sumOf(s, name, match) - sumOf(before, name, match);
    flakyCalls = 0;
    for (let i = 0; i < 6; i++) expect(await get('/flaky'), 'the retry hides the 503').toBe(200);
    // Until both the attempts' responses and the requests' own are counted (each when its body closes).
    await expect.poll(async () => {
      const now = await scrape(client);
      return [delta(now, 'route_actual_response_total', route), delta(now, 'route_response_total', route)];
    }).toEqual([12, 6]);
    const s = await scrape(client);
    expect(delta(s, 'route_request_total', route), 'effective requests').toBe(6);
    expect(delta(s, 'route_response_total', { ...route, status_code: '200', classification: 'success' }), 'effective: all succeeded').toBe(6);
    expect(delta(s, 'route_response_total', { ...route, classification: 'failure' })).toBe(0);
    expect(delta(s, 'route_actual_request_total', route), 'actual: every attempt').toBe(12);
    expect(delta(s, 'route_actual_response_total', { ...route, status_code: '503', classification: 'failure' }), 'actual: the failed attempts').toBe(6);
    expect(delta(s, 'route_actual_response_total', { ...route, status_code: '200', classification: 'success' })).toBe(6);
    expect(delta(s, 'route_response_latency_ms_count', route)).toBe(6);
    expect(delta(s, 'retry_total', { direction: 'outbound', authority: WEB, route: 'GET /flaky' })).toBe(6);
    // Another route keeps its own series: effective equals actual without retries.
    const okRoute = { ...route, rt_route: 'GET /ok' };
    expect(sumOf(s, 'route_request_total', okRoute)).toBeGreaterThanOrEqual(5);
    expect(sumOf(s, 'route_actual_request_total', okRoute)).toBe(sumOf(s, 'route_request_total', okRoute));
    // Route series carry the proxy's own labels, but not the endpoint's.
    for (const series of samplesOf(s, 'route_request_total')) {
      expect(series.labels).toMatchObject({ namespace: 'production', deployment: 'client', pod: 'client-0' });
      expect(Object.keys(series.labels).some((k) => k.startsWith('dst_') || k === 'tls')).toBe(false);
    }
  });

  it('hostile paths and authorities cannot grow the label sets', async () => {
    const outbound = { direction: 'outbound' };
    const before = await scrape(client);
    // Paths never become labels: 60 random paths on web share the route series of "no route matched".
    for (let i = 0; i < 60; i++) await get(`/${Math.random().toString(36).slice(2)}/${'x'.repeat(i * 10)}`);
    let s = await scrape(client);
    const routes = new Set(samplesOf(s, 'route_request_total', { dst: WEB }).map((x) => x.labels.rt_route ?? '(none)'));
    expect([...routes].sort()).toEqual(['(none)', 'GET /flaky', 'GET /ok']);
    expect(s.some((x) => Object.values(x.labels).some((v) => v.includes('xxxxxxxxxx')))).toBe(false);
    // 130 distinct authorities (nothing listens there) plus an absurdly long one: past the first
    // 100 authorities, the rest fold into "other", on the golden series and the route series alike.
    const hosts = [...Array.from({ length: 130 }, (_, i) => `${NET}.200:${1000 + i}`), `${'h'.repeat(300)}.example:80`];
    for (let i = 0; i < hosts.length; i += 10) await Promise.all(hosts.slice(i, i + 10).map((h) => get('/', h)));
    // Every one of them answered and counted: each response is counted when its body closes in the proxy.
    const sent = 60 + hosts.length;
    await expect.poll(async () => sumOf(await scrape(client), 'response_total', outbound) - sumOf(before, 'response_total', outbound)).toBe(sent);
    s = await scrape(client);
    const authorities = new Set(samplesOf(s, 'request_total', { direction: 'outbound' }).map((x) => x.labels.authority));
    expect(authorities.size).toBeLessThanOrEqual(101);
    expect(authorities.has('other')).toBe(true);
    expect(sumOf(s, 'metrics_label_capped', { label: 'authority' })).toBe(1);
    const dsts = new Set(samplesOf(s, 'route_request_total').map((x) => x.labels.dst));
    expect(dsts.size).toBeLessThanOrEqual(101);
    expect(s.some((x) => Object.values(x.labels).some((v) => v.length > 260))).toBe(false);
    // Still counted, every one of them, each request once.
    expect(sumOf(s, 'request_total', outbound) - sumOf(before, 'request_total', outbound)).toBe(sent);
    expect(sumOf(s, 'request_total', outbound)).toBe(sumOf(s, 'response_total', outbound));
  }, 60_000);
});
