// A Service's circuit breaker end to end: development mode's YAML (the destination's own parser
// and views), the outbound proxy's balancer, real HTTP through both proxies. Without the
// annotation an app that answers 503 every time keeps its endpoint, as in Linkerd; once the Service
// is annotated `balancer.linkerd.io/failure-accrual: consecutive`, the caller's proxy takes the
// endpoint out after the configured failures in a row and answers for it; its /metrics counts the
// endpoint as pending (Linkerd's outbound_http_balancer_endpoints) while it is out.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../helpers/address-block.ts';
import { StopFailures } from '../../helpers/teardown.ts';
import { startTwoProxies, type TwoProxies } from '../../helpers/two-proxies.ts';

const NET = await addressBlock();
const AUTHORITY = 'payments.production.svc.cluster.local:8080';

let hits = 0;
let app: Server;
let mesh: TwoProxies;
let pool: Pool;

beforeAll(async () => {
  app = createServer((_req, res) => {
    hits++;
    res.writeHead(503, { 'content-type': 'text/plain' }).end('payments temporarily unavailable');
  });
  await new Promise<void>((r) => app.listen(0, `${NET}.2`, r));
  const close = () => new Promise<void>((r) => { app.closeAllConnections(); app.close(() => r()); });
  mesh = await startTwoProxies({ clientIp: `${NET}.1`, serverIp: `${NET}.2`, services: [{ authority: AUTHORITY, port: (app.address() as AddressInfo).port }], apps: [{ close }] });
  pool = new Pool(mesh.proxyUrl, { connections: 1 });
});

afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('client pool', () => pool?.close());
  await failures.attempt('proxies and app', () => mesh?.close());
  failures.throwIfAny('circuit-breaking teardown');
});

/** The outbound proxy's `outbound_http_balancer_endpoints` for payments, per endpoint_state. */
async function balancerEndpoints(): Promise<Record<string, number>> {
  const text = await mesh.outbound.metrics();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^outbound_http_balancer_endpoints\{([^}]*)\} (\S+)$/gm)) {
    if (!m[1]!.includes(`backend="${AUTHORITY}"`)) continue;
    out[/endpoint_state="(\w+)"/.exec(m[1]!)![1]!] = Number(m[2]);
  }
  return out;
}

async function charge(): Promise<{ status: number; proxyError: string | undefined }> {
  const res = await pool.request({ path: '/charge', method: 'POST', headers: { host: AUTHORITY }, body: '{}' });
  await res.body.dump();
  const proxyError = res.headers['l5d-proxy-error'];
  return { status: res.statusCode, proxyError: typeof proxyError === 'string' ? proxyError : undefined };
}

/** Adds `annotations` to the Service in the outbound proxy's development-mode YAML (watched: no restart). */
function annotateService(annotations: Record<string, string>): void {
  const file = mesh.outbound.proxy!.config.endpointsFile!;
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { items: Array<{ kind: string; metadata: { annotations?: Record<string, string> } }> };
  const service = doc.items.find((d) => d.kind === 'Service')!;
  service.metadata.annotations = { ...service.metadata.annotations, ...annotations };
  writeFileSync(file, JSON.stringify(doc));
}

describe('circuit breaking, the Service\'s choice', () => {
  it('without the annotation, every 503 comes from the app: its one endpoint stays in', async () => {
    for (let i = 0; i < 30; i++) expect(await charge()).toEqual({ status: 503, proxyError: undefined });
    expect(hits).toBe(30);
    expect(await balancerEndpoints()).toEqual({ ready: 1, pending: 0 });
  });

  it('with it, the caller\'s proxy takes the endpoint out after 3 failures in a row and answers 503 itself', async () => {
    annotateService({
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '3',
      'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': '1m', // out for the rest of the test
    });
    // The edit reaches the proxy when development mode reloads the file; until then the app answers.
    let answer = await charge();
    const deadline = Date.now() + 15_000;
    while (answer.proxyError === undefined && Date.now() < deadline) answer = await charge();
    expect(answer.status).toBe(503);
    expect(answer.proxyError).toMatch(/all 1 endpoints are out after consecutive failures/);
    const before = hits;
    for (let i = 0; i < 10; i++) expect((await charge()).proxyError).toMatch(/endpoints are out/);
    expect(hits).toBe(before); // the app saw none of them
    expect(await balancerEndpoints()).toEqual({ ready: 0, pending: 1 });
  });
});
