// The demo's manifests: the shipped ones load, the lesson's YAML is there as taught, and a
// broken Deployment ends with a message naming the file, the Deployment and the field.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseWorkloads, readWorkloads, ManifestError } from '../../../examples/orders-checkout/runner/deployments.ts';
import { localPlacement, planDemo } from '../../../examples/orders-checkout/runner/topology.ts';

const root = join(import.meta.dirname, '../../..');
const workloadsDir = join(root, 'examples/orders-checkout/workloads');

const good = readFileSync(join(workloadsDir, 'deployments.yaml'), 'utf8').split('\n---\n')[1]!; // orders-stable

function brokenMessage(text: string): string {
  try {
    parseWorkloads(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return (err as Error).message;
  }
  throw new Error('expected a ManifestError');
}

describe('workload manifests', () => {
  it('the shipped Deployments plan every pod on its own address, with its service account', () => {
    const plan = planDemo(readWorkloads(workloadsDir), localPlacement('/tmp/state', root, ''), 'examples/orders-checkout/manifests');
    const byName = Object.fromEntries(plan.pods.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['checkout-0', 'orders-canary-0', 'orders-stable-0', 'orders-stable-1', 'payments-0', 'rogue-0', 'traffic-0']);
    // First replicas keep their addresses in manifest order; a second replica comes after them all.
    expect(plan.pods.map((p) => `${p.name} ${p.ip}`)).toEqual([
      'checkout-0 127.0.10.2', 'orders-stable-0 127.0.10.3', 'orders-stable-1 127.0.10.8', 'orders-canary-0 127.0.10.4',
      'payments-0 127.0.10.5', 'rogue-0 127.0.10.6', 'traffic-0 127.0.10.7',
    ]);
    expect(new Set(plan.pods.map((p) => p.ip)).size).toBe(plan.pods.length);
    expect(plan.pods.every((p) => /^127\.0\.10\.\d+$/.test(p.ip))).toBe(true);
    expect(byName['checkout-0']!.identity).toBe('spiffe://cluster.local/ns/production/sa/checkout');
    expect(byName['rogue-0']!.serviceAccount).toBe('rogue');
    expect(byName['traffic-0']!.sidecar).toBeUndefined();
    expect(byName['orders-canary-0']!.app.env).toMatchObject({ ORDERS_VERSION: 'canary', HTTP_PROXY: `http://${byName['orders-canary-0']!.ip}:4140` });
    // The front door is `mesh proxy --ingress`: users' requests on 127.0.0.1:8000, its own pod address for the rest.
    expect(plan.ingress.proxy.command).toEqual(['node', 'bin/mesh.js', 'proxy', '--ingress']);
    expect(plan.ingress.proxy.listens).toEqual(['127.0.0.1:8000', '127.0.10.1:4143', '127.0.10.1:4190', '127.0.10.1:4191']);
    expect(plan.ingress.proxy.env).toMatchObject({
      MESH_PROXY_OUTBOUND_IP: '127.0.0.1', MESH_PROXY_OUTBOUND_PORT: '8000', MESH_PROXY_INGRESS_DEFAULT_DST: 'checkout.production.svc.cluster.local:8080',
      MESH_POD_IP: '127.0.10.1', MESH_SERVICE_ACCOUNT: 'ingress', MESH_IDENTITY: 'spiffe://cluster.local/ns/production/sa/ingress',
    });
  });

  it('an IPv6 pod address is written in brackets wherever a port or a URL follows it', () => {
    const placement = { ...localPlacement('/tmp/state', root, ''), podIp: (n: number) => `fd00::${n}` };
    const plan = planDemo(readWorkloads(workloadsDir), placement, 'examples/orders-checkout/manifests');
    const checkout = plan.pods.find((p) => p.name === 'checkout-0')!;
    expect(checkout.ip).toBe('fd00::2');
    for (const name of ['HTTP_PROXY', 'http_proxy', 'grpc_proxy']) {
      expect(checkout.app.env[name], name).toBe('http://[fd00::2]:4140');
      expect(new URL(checkout.app.env[name]!)).toMatchObject({ hostname: '[fd00::2]', port: '4140' });
    }
    expect(checkout.app.listens).toEqual(['[fd00::2]:8080']);
    expect(checkout.sidecar!.listens).toEqual(['[fd00::2]:4140', '[fd00::2]:4143', '[fd00::2]:4190', '[fd00::2]:4191']);
    expect(new URL(checkout.sidecar!.readyUrl!)).toMatchObject({ hostname: '[fd00::2]', port: '4191', pathname: '/ready' });
    expect(plan.ingress.proxy.listens.slice(1)).toEqual(['[fd00::1]:4143', '[fd00::1]:4190', '[fd00::1]:4191']);
  });

  it('MESH_DEMO_NET moves the whole demo into another loopback /24', () => {
    const plan = planDemo(readWorkloads(workloadsDir), localPlacement('/tmp/state', root, '127.0.27'), 'm');
    const all = [...plan.controlPlane, plan.ingress.proxy, ...plan.pods.flatMap((p) => [p.app, ...(p.sidecar ? [p.sidecar] : [])])];
    expect(all.flatMap((p) => p.listens).every((a) => a.startsWith('127.0.27.'))).toBe(true);
    expect(() => localPlacement('/s', root, '10.0.0')).toThrow(/MESH_DEMO_NET="10.0.0"/);
  });

  it('the lesson resources are present exactly as the lesson writes them', () => {
    const docs = parseAllDocuments(readFileSync(join(root, 'examples/orders-checkout/manifests/lesson.yaml'), 'utf8')).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'ServiceProfile/orders.production.svc.cluster.local', 'HTTPRoute/orders-canary', 'Server/orders-grpc', 'ServerAuthorization/orders-grpc-allow-checkout',
    ]);
    const [profile, route, server, authz] = docs;
    expect(profile.spec.routes.map((r: any) => [r.name, r.timeout, r.isRetryable ?? false])).toEqual([['POST /orders', '500ms', false], ['GET /orders/{id}', '200ms', true]]);
    expect(route.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([['orders-stable', 90], ['orders-canary', 10]]);
    expect(server.spec).toEqual({ podSelector: { matchLabels: { app: 'orders' } }, port: 9090, proxyProtocol: 'gRPC' });
    expect(authz.spec.client.meshTLS.serviceAccounts).toEqual([{ name: 'checkout', namespace: 'production' }]);
  });

  it.each([
    ['YAML syntax', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x\n', /bad\.yaml: document 1: YAML syntax error at line \d/],
    ['wrong kind', 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\n', /apps\/v1 Deployments only, got v1 Service/],
    ['bad name', good.replace('name: orders-stable', 'name: Orders_Stable'), /metadata\.name: must be a Kubernetes name/],
    ['no command', good.replace(/\n\s+command: .*/, ''), /\(Deployment "orders-stable"\): spec\.template\.spec\.containers\[0\]\.command: must be a non-empty list/],
    ['numeric env', good.replace('value: stable', 'value: 3'), /containers\[0\]\.env\[0\]\.value: must be a string \(quote numbers/],
    ['bad port', good.replace('containerPort: 9090', 'containerPort: 99999'), /containers\[0\]\.ports\[1\]\.containerPort: must be an integer from 1 to 65535, got 99999/],
    ['sidecar port', good.replace('containerPort: 9090', 'containerPort: 4191'), /4191 is the sidecar's own port/],
    ['selector mismatch', good.replace(/matchLabels:\n      app: orders\n      version: stable/, 'matchLabels:\n      app: payments'), /spec\.selector\.matchLabels: app=payments does not match/],
    ['replicas', good.replace('replicas: 2', 'replicas: many'), /spec\.replicas: must be a non-negative integer, got "many"/],
    ['two containers', good.replace('      containers:\n', '      containers:\n      - name: extra\n        command: [x]\n'), /must list exactly one container/],
  ])('rejects %s with an actionable message', (_what, text, message) => {
    expect(brokenMessage(text)).toMatch(message);
  });

  it('reads the skip-port annotations proxy-init is given, and names a bad one', () => {
    const annotated = (value: string) => good.replace('linkerd.io/inject: enabled', `linkerd.io/inject: enabled\n        config.linkerd.io/skip-outbound-ports: "${value}"`);
    expect(parseWorkloads(annotated('25, 587,4000-4100'), 'ok.yaml')[0]).toMatchObject({ skipOutboundPorts: '25,587,4000-4100', skipInboundPorts: '' });
    expect(brokenMessage(annotated('25,smtp'))).toMatch(/bad\.yaml: document 1 \(Deployment "orders-stable"\): spec\.template\.metadata\.annotations\.config\.linkerd\.io\/skip-outbound-ports: must be ports or ranges like 25,587,4000-4100, got "25,smtp"/);
  });

  it('names the folder when it is missing or empty, and a duplicate Deployment', () => {
    expect(() => readWorkloads('/nonexistent/workloads')).toThrow(/cannot read the workloads folder \/nonexistent\/workloads/);
    const dir = mkdtempSync(join(tmpdir(), 'demo-workloads-'));
    expect(() => readWorkloads(dir)).toThrow(/no \.yaml files/);
    writeFileSync(join(dir, 'a.yaml'), good);
    writeFileSync(join(dir, 'b.yaml'), good);
    expect(() => readWorkloads(dir)).toThrow(/Deployment production\/orders-stable is defined twice/);
  });
});
