// GRPCRoute (Gateway API v1) end to end: a @grpc/grpc-js client -> outbound proxy -> mTLS ->
// inbound proxies -> grpc-js servers, with a real CA and destination reading GRPCRoutes from its
// folder. Matches on service and method (and a header), a weighted split over two Services, a
// response header filter, Linkerd's timeout and retry annotations, and an unsupported filter.
import * as grpc from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../../helpers/address-block.ts';
import { controlPlane, eventually, metricValue, proxyArgs, startProxy, stopMesh, type ControlPlane, type RunningProxy } from '../../../helpers/control-plane.ts';
import { echoClient, startGrpcEcho, type EchoApp } from '../../../helpers/grpc-echo.ts';

const ORDERS = 'orders.production.svc.cluster.local:9090';
const V1 = 'orders-v1.production.svc.cluster.local:9090';
const V2 = 'orders-v2.production.svc.cluster.local:9090';

const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: orders-split
  namespace: production
  annotations: {retry.linkerd.io/grpc: unavailable, retry.linkerd.io/limit: "2"}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 9090}]
  rules:
  - matches: [{method: {service: meshtest.Echo, method: Unary}}]
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-route, value: orders-split}]}
    backendRefs: [{name: orders-v1, port: 9090, weight: 1}, {name: orders-v2, port: 9090, weight: 1}]
  - matches: [{method: {service: meshtest.Echo, method: ClientStream}}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: orders-v2, port: 9090}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: orders-slow
  namespace: production
  annotations: {timeout.linkerd.io/request: 300ms}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 9090}]
  rules:
  - matches: [{method: {service: meshtest.Echo, method: Unary}, headers: [{name: x-slow, value: "yes"}]}]
    backendRefs: [{name: orders-v1, port: 9090}]
`;

let cp: ControlPlane;
const apps: EchoApp[] = [];
const proxies: RunningProxy[] = [];
let client: RunningProxy;
let stub: grpc.Client & Record<string, Function>;

interface Reply {
  err: grpc.ServiceError | null;
  headers?: grpc.Metadata;
  ms: number;
}

function unary(request: Record<string, unknown>, metadata = new grpc.Metadata()): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    const call = stub.Unary(request, metadata, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) => resolve({ err, headers, ms: performance.now() - started }));
    call.on('metadata', (md: grpc.Metadata) => (headers = md));
  });
}

beforeAll(async () => {
  const net = await addressBlock();
  cp = await controlPlane();
  await cp.startIdentity(`${net}.1:0`);
  // Each app is listed for afterAll as soon as it listens: a later start that fails must not leave it open.
  const v1 = await startGrpcEcho(`${net}.2`);
  apps.push(v1);
  const v2 = await startGrpcEcho(`${net}.4`);
  apps.push(v2);
  const service = (name: string, app: string, port: number) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: production}\nspec:\n  selector: {app: ${app}}\n  ports: [{port: 9090, targetPort: ${port}, appProtocol: grpc}]\n---\n`;
  writeFileSync(join(cp.resourcesDir, 'services.yaml'), service('orders', 'orders-v1', v1.port) + service('orders-v1', 'orders-v1', v1.port) + service('orders-v2', 'orders-v2', v2.port));
  writeFileSync(join(cp.resourcesDir, 'routes.yaml'), routes);
  await cp.startDestination(`${net}.1:0`);
  proxies.push(await startProxy(proxyArgs(cp, { name: 'orders-v1-0', serviceAccount: 'orders', ip: `${net}.2`, labels: { app: 'orders-v1' }, ports: [String(v1.port)] })));
  proxies.push(await startProxy(proxyArgs(cp, { name: 'orders-v2-0', serviceAccount: 'orders', ip: `${net}.4`, labels: { app: 'orders-v2' }, ports: [String(v2.port)] })));
  client = await startProxy(proxyArgs(cp, { name: 'checkout-0', serviceAccount: 'checkout', ip: `${net}.3`, labels: { app: 'checkout' } }));
  proxies.push(client);
  // grpc-js speaks HTTP/2 with prior knowledge to the outbound port, naming the service in :authority.
  stub = echoClient(`${client.ip}:${client.outboundPort}`, ORDERS);
  await eventually(async () => (await unary({ text: 'warm-up' })).headers?.get('x-route')[0] === 'orders-split', 20_000, 'the GRPCRoute reached the client proxy');
}, 60_000);

afterAll(() => stopMesh({ clients: [stub], cp, proxies, apps }));

describe('GRPCRoute through real proxies', () => {
  it('matches service and method, splits by weight over both backends, and sets the response header', async () => {
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => unary({ text: `split-${i}` })));
    for (const r of replies) {
      expect(r.err).toBeNull();
      expect(r.headers?.get('x-route')).toEqual(['orders-split']);
    }
    // Both backends serve their share (once discovery has told the client proxy of both: until
    // then failover gives a backend without endpoints' weight to the other).
    const served = async (backend: string) => metricValue(await client.metrics(), 'response_total', { direction: 'outbound', backend, classification: 'success' }) ?? 0;
    await eventually(async () => {
      await Promise.all(Array.from({ length: 10 }, (_, i) => unary({ text: `more-${i}` })));
      return (await served(V1)) > 0 && (await served(V2)) > 0;
    }, 20_000, 'calls served by both backends');
    expect(await client.metrics()).toMatch(/route_response_total\{[^}]*rt_route="production\/orders-split#0"/);
  });

  it('a more specific match (a header) picks the other GRPCRoute, whose timeout annotation ends a slow call with DEADLINE_EXCEEDED', async () => {
    const md = new grpc.Metadata();
    md.set('x-slow', 'yes');
    const r = await unary({ text: 'slow', sleepMs: 5_000 }, md);
    expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.ms).toBeLessThan(4_000);
    expect(r.headers?.get('x-route') ?? []).toEqual([]);
  });

  it('retries UNAVAILABLE as retry.linkerd.io/grpc says, up to the limit', async () => {
    const before = metricValue(await client.metrics(), 'retry_total', { direction: 'outbound' }) ?? 0;
    const r = await unary({ text: 'flaky', failCode: grpc.status.UNAVAILABLE });
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    const after = metricValue(await client.metrics(), 'retry_total', { direction: 'outbound' }) ?? 0;
    expect(after - before).toBe(2);
    // Another code is not retried.
    const r2 = await unary({ text: 'bad', failCode: grpc.status.INVALID_ARGUMENT });
    expect(r2.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((metricValue(await client.metrics(), 'retry_total', { direction: 'outbound' }) ?? 0) - after).toBe(0);
  });

  it('a rule with an unsupported filter answers INTERNAL naming it, never the call without the filter', async () => {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = stub.ClientStream((e: grpc.ServiceError | null) => resolve(e));
      call.write({ text: 'a' });
      call.end();
    });
    expect(err?.code).toBe(grpc.status.INTERNAL);
    expect(err?.details).toBe('route "production/orders-split#1": GRPCRoute production/orders-split spec.rules[1] is refused: filter RequestMirror');
  });
});
