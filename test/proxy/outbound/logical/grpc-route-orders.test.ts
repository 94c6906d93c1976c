// GRPCRoute with the demo's own gRPC service: orders.v1.Orders/GetOrder split 3:1 over the
// stable and canary orders apps (the demo's code, each behind its own inbound proxy), called by a
// @grpc/grpc-js client through checkout's outbound proxy, as checkout calls it in the demo.
import * as grpc from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrders } from '../../../../examples/orders-checkout/apps/orders.ts';
import { ordersPackage } from '../../../../examples/orders-checkout/apps/grpc-protos.ts';
import { newOrder } from '../../../../examples/orders-checkout/apps/order-record.ts';
import { addressBlock } from '../../../helpers/address-block.ts';
import { controlPlane, eventually, proxyArgs, startProxy, stopMesh, type ControlPlane, type RunningProxy } from '../../../helpers/control-plane.ts';

const ORDERS = 'orders.production.svc.cluster.local:9090';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: orders-canary-grpc, namespace: production}
spec:
  parentRefs: [{name: orders, kind: Service, group: core, port: 9090}]
  rules:
  - matches: [{method: {service: orders.v1.Orders, method: GetOrder}}]
    backendRefs: [{name: orders-stable, port: 9090, weight: 3}, {name: orders-canary, port: 9090, weight: 1}]
`;

type Orders = grpc.Client & Record<string, Function>;
let cp: ControlPlane;
const apps: Array<{ close(): Promise<void> }> = [];
const proxies: RunningProxy[] = [];
let orders: Orders;

const getOrder = (id: string) =>
  new Promise<{ servedBy: string }>((resolve, reject) =>
    orders.GetOrder({ id }, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, reply: { servedBy: string }) => (err ? reject(err) : resolve(reply))));

beforeAll(async () => {
  const net = await addressBlock();
  cp = await controlPlane();
  await cp.startIdentity(`${net}.1:0`);
  const log = pino({ level: 'silent' });
  // Payments is never called: GetOrder only decodes the order from its id.
  // Each app is listed for afterAll as soon as it listens: a later start that fails must not leave it open.
  const stable = await startOrders({ host: `${net}.2`, httpPort: 0, grpcPort: 0, version: 'stable', paymentsUrl: 'http://127.0.0.1:9', proxy: undefined, log });
  apps.push(stable);
  const canary = await startOrders({ host: `${net}.4`, httpPort: 0, grpcPort: 0, version: 'canary', paymentsUrl: 'http://127.0.0.1:9', proxy: undefined, log });
  apps.push(canary);
  const service = (name: string, selector: string, port: number) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: production}\nspec:\n  selector: {${selector}}\n  ports: [{port: 9090, targetPort: ${port}, appProtocol: grpc}]\n---\n`;
  writeFileSync(join(cp.resourcesDir, 'services.yaml'),
    service('orders', 'app: orders, version: stable', stable.grpcPort) + service('orders-stable', 'version: stable', stable.grpcPort) + service('orders-canary', 'version: canary', canary.grpcPort));
  writeFileSync(join(cp.resourcesDir, 'routes.yaml'), ROUTE);
  await cp.startDestination(`${net}.1:0`);
  proxies.push(await startProxy(proxyArgs(cp, { name: 'orders-stable-0', serviceAccount: 'orders', ip: `${net}.2`, labels: { app: 'orders', version: 'stable' }, ports: [String(stable.grpcPort)] })));
  proxies.push(await startProxy(proxyArgs(cp, { name: 'orders-canary-0', serviceAccount: 'orders', ip: `${net}.4`, labels: { app: 'orders', version: 'canary' }, ports: [String(canary.grpcPort)] })));
  const checkout = await startProxy(proxyArgs(cp, { name: 'checkout-0', serviceAccount: 'checkout', ip: `${net}.3`, labels: { app: 'checkout' } }));
  proxies.push(checkout);
  // As checkout's gRPC client does: HTTP/2 with prior knowledge to the outbound port, the service in :authority.
  orders = new (ordersPackage().Orders)(`${checkout.ip}:${checkout.outboundPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': ORDERS }) as unknown as Orders;
  const id = newOrder('warm-up', 1, 'stable').id;
  // Until the client proxy knows both backends' endpoints, failover gives one backend's share to
  // the other: measure the split only once each has served a call.
  const seen = new Set<string>();
  await eventually(async () => (seen.add((await getOrder(id)).servedBy), seen.has('canary') && seen.has('stable')), 30_000, 'GetOrders served by both stable and canary');
}, 90_000);

afterAll(() => stopMesh({ clients: [orders], cp, proxies, apps }));

describe("GRPCRoute over the demo's orders service", () => {
  it('splits GetOrder 3:1 over stable and canary', async () => {
    const id = newOrder('book', 2, 'stable').id;
    const served = await Promise.all(Array.from({ length: 200 }, () => getOrder(id).then((r) => r.servedBy)));
    const canary = served.filter((s) => s === 'canary').length;
    expect(served.filter((s) => s !== 'canary' && s !== 'stable')).toEqual([]);
    // 50 expected; a binomial(200, 0.25) falls outside 25..80 with a probability below 1e-6.
    expect(canary).toBeGreaterThan(25);
    expect(canary).toBeLessThan(80);
  });
});
