// The runner's probes as the kubelet runs them, against real servers: each handler (httpGet,
// tcpSocket, grpc) and its timeout, the thresholds, and the Deployment fields' checks.
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { HealthService } from '../../../examples/orders-checkout/apps/grpc-health.ts';
import { parseWorkloads } from '../../../examples/orders-checkout/runner/deployments.ts';
import { probeOnce } from '../../../examples/orders-checkout/runner/prober.ts';
import { ProbeWorker } from '../../../examples/orders-checkout/runner/probe-worker.ts';
import type { ProbeSpec } from '../../../examples/orders-checkout/runner/probe-spec.ts';
import { selfSignedCert } from '../../injector/self-signed.ts';

const host = '127.0.0.1';
const closers: Array<() => void> = [];
afterAll(() => closers.forEach((c) => c()));

let status = 200;
let delayMs = 0;
const web = http.createServer((req, res) => {
  setTimeout(() => res.writeHead(req.url === '/healthz' ? status : 404).end(), delayMs);
});
const webPort = await new Promise<number>((r) => web.listen(0, host, () => r((web.address() as net.AddressInfo).port)));
closers.push(() => web.close());

describe('one probe attempt', () => {
  it('httpGet succeeds on 200-399, fails on other statuses and on a timeout', async () => {
    const get = { kind: 'httpGet' as const, path: '/healthz', port: webPort, scheme: 'HTTP' as const, headers: [] };
    status = 204;
    expect(await probeOnce(get, host, 1000)).toMatchObject({ ok: true });
    status = 503;
    expect(await probeOnce(get, host, 1000)).toEqual({ ok: false, detail: `GET http://${host}:${webPort}/healthz: HTTP 503` });
    status = 200;
    delayMs = 400;
    const slow = await probeOnce(get, host, 100);
    expect(slow.ok).toBe(false);
    expect(slow.detail).toMatch(/abort|timeout/i);
    delayMs = 0;
  });

  it('httpGet with scheme HTTPS speaks TLS and, as the kubelet, checks no certificate', async () => {
    const cert = selfSignedCert([host]);
    const tls = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => res.writeHead(req.url === '/ready' ? 200 : 404).end());
    const port = await new Promise<number>((r) => tls.listen(0, host, () => r((tls.address() as net.AddressInfo).port)));
    closers.push(() => tls.close());
    expect(await probeOnce({ kind: 'httpGet', path: '/ready', port, scheme: 'HTTPS', headers: [] }, host, 2000)).toEqual({ ok: true, detail: `GET https://${host}:${port}/ready: HTTP 200` });
    expect(await probeOnce({ kind: 'httpGet', path: '/other', port, scheme: 'HTTPS', headers: [] }, host, 2000)).toMatchObject({ ok: false });
    // Plain HTTP to the TLS port fails: the scheme is honoured, not guessed.
    expect((await probeOnce({ kind: 'httpGet', path: '/ready', port, scheme: 'HTTP', headers: [] }, host, 2000)).ok).toBe(false);
  });

  it('tcpSocket succeeds on a connection and fails on a refused one', async () => {
    expect((await probeOnce({ kind: 'tcpSocket', port: webPort }, host, 1000)).ok).toBe(true);
    const closed = net.createServer();
    const port = await new Promise<number>((r) => closed.listen(0, host, () => r((closed.address() as net.AddressInfo).port)));
    await new Promise((r) => closed.close(r));
    expect(await probeOnce({ kind: 'tcpSocket', port }, host, 1000)).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
  });

  it('grpc asks grpc.health.v1.Health/Check for the service and wants SERVING', async () => {
    const health = new HealthService(['orders.v1.Orders']);
    const server = new grpc.Server();
    health.addTo(server);
    const port = await new Promise<number>((r, j) => server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    closers.push(() => server.forceShutdown());
    const probe = { kind: 'grpc' as const, port, service: 'orders.v1.Orders' };
    expect(await probeOnce(probe, host, 1000)).toMatchObject({ ok: true });
    health.setStatus('orders.v1.Orders', 'NOT_SERVING');
    expect(await probeOnce(probe, host, 1000)).toMatchObject({ ok: false, detail: expect.stringContaining('NOT_SERVING') });
    expect(await probeOnce({ ...probe, service: 'nope' }, host, 1000)).toMatchObject({ ok: false, detail: expect.stringContaining('unknown service') });
  });
});

describe('a probe on its schedule', () => {
  it('flips to failing after failureThreshold failures and back after successThreshold successes', async () => {
    const spec: ProbeSpec = { action: { kind: 'httpGet', path: '/healthz', port: webPort, scheme: 'HTTP', headers: [] }, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 2, failureThreshold: 2 };
    const flips: Array<{ result: boolean; at: number }> = [];
    status = 200;
    const began = Date.now();
    const worker = new ProbeWorker('readiness', spec, host, (result) => flips.push({ result, at: Date.now() - began }));
    worker.start();
    closers.push(() => worker.stop());
    await expect.poll(() => flips.length, { timeout: 6_000 }).toBe(1);
    expect(flips[0]).toMatchObject({ result: true });
    expect(flips[0]!.at).toBeGreaterThanOrEqual(900); // two successes: at 0 s and 1 s
    status = 500;
    await expect.poll(() => flips.length, { timeout: 6_000 }).toBe(2);
    expect(flips[1]).toMatchObject({ result: false });
    status = 200;
    await expect.poll(() => flips.length, { timeout: 6_000 }).toBe(3);
    expect(flips[2]).toMatchObject({ result: true });
    worker.stop();
  }, 20_000);
});

describe('probes in a Deployment', () => {
  const deployment = (probe: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        command: [node, app.js]
        ports: [{name: http, containerPort: 8080}]
${probe}`;

  it('reads Kubernetes\'s fields with its defaults, and a named port', () => {
    const [w] = parseWorkloads(deployment('        readinessProbe:\n          httpGet: {path: /ready, port: http}\n'), 'web.yaml');
    expect(w!.probes.readiness).toEqual({
      action: { kind: 'httpGet', path: '/ready', port: 8080, host: undefined, scheme: 'HTTP', headers: [] },
      initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3,
    });
  });

  it.each([
    ['        livenessProbe:\n          tcpSocket: {port: admin}\n', 'spec.template.spec.containers[0].livenessProbe.tcpSocket.port: names no port of the container (http)'],
    ['        readinessProbe:\n          exec: {command: [true]}\n', 'spec.template.spec.containers[0].readinessProbe.exec: exec probes are not supported here'],
    ['        readinessProbe:\n          httpGet: {port: 8080}\n          tcpSocket: {port: 8080}\n', 'must have exactly one of httpGet, tcpSocket, grpc, got httpGet and tcpSocket'],
    ['        startupProbe:\n          tcpSocket: {port: 8080}\n          successThreshold: 2\n', 'spec.template.spec.containers[0].startupProbe.successThreshold: must be 1 for a startup probe, got 2'],
    ['        readinessProbe:\n          grpc: {port: 9090}\n          periodSeconds: 0\n', 'spec.template.spec.containers[0].readinessProbe.periodSeconds: must be an integer of at least 1, got 0'],
    ['        readinessProbe:\n          tcpSocket: {port: 8080}\n          perodSeconds: 1\n', 'spec.template.spec.containers[0].readinessProbe.perodSeconds: unknown probe field'],
  ])('rejects a broken probe with the field at fault (%#)', (probe, message) => {
    expect(() => parseWorkloads(deployment(probe), 'web.yaml')).toThrow(message);
  });
});
