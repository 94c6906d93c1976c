// Development mode: discovery from Kubernetes YAML through the destination's store and index
// (lookups, Pods as registrations, live reload, and refusal of bad resources).
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevResolver, type DevResolverOptions } from '../../../proxy/discovery/dev-resolver.ts';
import type { EndpointSet } from '../../../api/destination-types.ts';

const ORDERS_ID = 'spiffe://cluster.local/ns/production/sa/orders';

const pod = (name: string, ip: string, extra = '') => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: production, labels: { app: orders } }
spec:
  serviceAccountName: orders
  containers:
    - { name: app, ports: [ { name: http, containerPort: 8080 } ] }
    - { name: mesh-proxy, ports: [ { name: mesh-inbound, containerPort: 4143 }, { name: mesh-admin, containerPort: 4191 } ] }
status: { podIP: ${ip} }${extra}
`;

const GOOD = `${pod('orders-1', '127.0.10.2')}
---
apiVersion: v1
kind: Service
metadata: { name: orders, namespace: production }
spec: { selector: { app: orders }, ports: [ { port: 8080, targetPort: http } ] }
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: orders.production.svc.cluster.local, namespace: production }
spec:
  routes:
    - name: GET /orders/{id}
      condition: { method: GET, pathRegex: '/orders/[^/]+' }
      responseClasses: [ { condition: { status: { min: 500, max: 599 } }, isFailure: true } ]
      timeout: 300ms
      isRetryable: true
---
apiVersion: policy.linkerd.io/v1beta1
kind: Server
metadata: { name: orders-http, namespace: production }
spec: { podSelector: { matchLabels: { app: orders } }, port: http, proxyProtocol: HTTP/1 }
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: { name: checkout, namespace: production }
spec: { server: { name: orders-http }, client: { meshTLS: { serviceAccounts: [ { name: checkout } ] } } }
`;

let dir: string;
let file: string;
let resolver: DevResolver | undefined;
let logLines: Array<Record<string, unknown>>;

function options(extra: Partial<DevResolverOptions> = {}): DevResolverOptions {
  logLines = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { logLines.push(JSON.parse(c.toString())); cb(); } }));
  return { podIp: '127.0.10.2', namespace: 'production', defaultPolicy: 'all-authenticated', logger, debounceMs: 20, ...extra };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dev-resolver-'));
  file = join(dir, 'mesh.yaml');
  writeFileSync(file, GOOD);
});
afterEach(() => {
  resolver?.close();
  resolver = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function next<T>(cell: { subscribe(l: (v: T) => void): () => void }, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no update')), timeoutMs);
    const off = cell.subscribe((v) => { clearTimeout(timer); off(); resolve(v); });
  });
}

const addresses = (set: EndpointSet | undefined) => (set?.kind === 'endpoints' ? set.endpoints.map((e) => e.address) : set?.kind);

describe('DevResolver', () => {
  it('answers endpoints, profiles and inbound policy as the destination would, the Pods standing for registrations', () => {
    resolver = new DevResolver(file, options());
    const eps = resolver.endpoints('orders.production.svc.cluster.local:8080').get();
    expect(eps).toEqual({
      kind: 'endpoints',
      endpoints: [
        {
          address: '127.0.10.2:8080',
          weight: 1,
          identity: ORDERS_ID,
          inboundPort: 4143,
          h2: true,
          labels: { app: 'orders', pod: 'orders-1', namespace: 'production', serviceaccount: 'orders' },
          metricLabels: { namespace: 'production', pod: 'orders-1', service: 'orders' },
        },
      ],
    });
    // Short names resolve against the proxy's namespace, as Kubernetes DNS search paths do.
    for (const short of ['orders:8080', 'orders.production:8080', 'orders.production.svc:8080', 'ORDERS.production.svc.cluster.local.:8080']) {
      expect(resolver.endpoints(short).get(), short).toEqual(eps);
    }
    expect(resolver.endpoints('orders:9999').get()).toEqual({ kind: 'endpoints', endpoints: [] }); // a port the Service lacks
    expect(resolver.endpoints('payments:8080').get()).toEqual({ kind: 'unknown' });
    expect(resolver.endpoints('example.org:443').get()).toEqual({ kind: 'unknown' });
    expect(resolver.endpoints('not an authority').get()).toEqual({ kind: 'unknown' });

    const profile = resolver.profile('orders:8080').get()!;
    expect(profile.fqdn).toBe('orders.production.svc.cluster.local');
    expect(profile.routes[0]).toMatchObject({ name: 'GET /orders/{id}', timeoutMs: 300, isRetryable: true });
    expect(profile.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 }); // Linkerd's default
    // Read as the destination reads it: `example.org` is `name.namespace`, a Service with no routes.
    expect(resolver.profile('example.org:443').get()).toEqual({ fqdn: 'example.org.svc.cluster.local', routes: [], httpRoutes: [] });
    expect(resolver.profile('127.0.10.2:8080').get()).toEqual({ fqdn: '', routes: [], httpRoutes: [] });

    // This proxy's own Pod is the one at its address: the Server selects it by label and port name.
    const policy = resolver.inboundPolicy(8080).get()!;
    expect(policy).toMatchObject({ port: 8080, server: { name: 'production/orders-http', protocol: 'HTTP/1' }, defaultPolicy: 'all-authenticated' });
    expect(policy.authorizations[0]!.authentication.identities).toEqual(['spiffe://cluster.local/ns/production/sa/checkout']);
    expect(resolver.inboundPolicy(9090).get()).toMatchObject({ port: 9090, authorizations: [], defaultPolicy: 'all-authenticated' });
    expect(resolver.inboundPolicy(9090).get()!.server).toBeUndefined();
    // One cell per key: repeated calls share the watch.
    expect(resolver.endpoints('orders:8080')).toBe(resolver.endpoints('orders:8080'));
  });

  it('reads a folder of files, JSON too', () => {
    rmSync(file);
    mkdirSync(join(dir, 'pods'));
    writeFileSync(join(dir, 'pods', 'orders.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [] }));
    writeFileSync(join(dir, 'pods', 'orders-2.yaml'), pod('orders-2', '127.0.10.3'));
    writeFileSync(join(dir, 'service.yaml'), GOOD.slice(GOOD.indexOf('---') + 4));
    resolver = new DevResolver(dir, options({ podIp: '127.0.10.9' }));
    expect(addresses(resolver.endpoints('orders:8080').get())).toEqual(['127.0.10.3:8080']);
    // No Pod at this proxy's address: no Server selects it, the default applies.
    expect(resolver.inboundPolicy(8080).get()).toMatchObject({ authorizations: [], defaultPolicy: 'all-authenticated' });
  });

  it('updates live cells when the file changes, also when it is replaced', async () => {
    resolver = new DevResolver(file, options());
    const cell = resolver.endpoints('orders:8080');
    const changed = next<EndpointSet>(cell);
    writeFileSync(file, `${GOOD}\n---${pod('orders-2', '127.0.10.5')}`);
    expect(addresses(await changed)).toEqual(['127.0.10.2:8080', '127.0.10.5:8080']);

    // An editor's save: write a temporary file, rename it over the original. Pods gone are unregistered.
    const replaced = next<EndpointSet>(cell);
    const tmp = join(dir, '.mesh.yaml.swp');
    writeFileSync(tmp, GOOD.replace('127.0.10.2', '127.0.10.7'));
    renameSync(tmp, file);
    expect(addresses(await replaced)).toEqual(['127.0.10.7:8080']);
  });

  it('refuses bad resources at start, naming the file, the resource and the field', () => {
    const cases: Array<[string, string]> = [
      [pod('orders-1', 'not-an-ip'), `${file}: Pod production/orders-1: status.podIP: must be an IP address, got "not-an-ip"`],
      [pod('orders-1', '127.0.10.2').replace('containerPort: 4143', 'containerPort: 70000'), 'Pod production/orders-1: spec.containers[1].ports[0].containerPort: must be an integer from 1 to 65535, got 70000'],
      [GOOD.replace("pathRegex: '/orders/[^/]+'", "pathRegex: '('"), 'ServiceProfile production/orders.production.svc.cluster.local: spec.routes[0].condition.pathRegex: is not a valid regular expression'],
      [GOOD.replace('timeout: 300ms', 'timeout: soon'), 'spec.routes[0].timeout:'],
      [GOOD.replace('kind: Server\n', 'kind: Servr\n'), 'kind: must be one of Service, '],
      ['kind: [', `${file}: document 1: YAML syntax:`],
    ];
    for (const [text, why] of cases) {
      writeFileSync(file, text);
      let err: (Error & { code?: string }) | undefined;
      try {
        new DevResolver(file, options()).close();
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code, text).toBe('DEV_RESOURCES_INVALID');
      expect(err!.message, text).toContain(why);
      expect(err!.message, text).toContain(file);
    }
    rmSync(file);
    expect(() => new DevResolver(file, options())).toThrow(`${file}: cannot list the resource folder: ENOENT`);
  });

  it('keeps the last good version of a resource when an edit is bad, and logs why', async () => {
    resolver = new DevResolver(file, options());
    const cell = resolver.profile('orders:8080');
    const before = cell.get();
    writeFileSync(file, GOOD.replace('timeout: 300ms', 'timeout: soon'));
    await expect.poll(() => logLines.find((l) => l.level === 50), { timeout: 5000 }).toBeTruthy();
    const line = logLines.find((l) => l.level === 50)!;
    expect(line.problem).toContain(`${file}: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[0].timeout:`);
    expect(line.problem).toContain('(the last good version stays in force)');
    expect(cell.get()).toBe(before);
    // A fixed file applies again.
    const changed = next(cell);
    writeFileSync(file, GOOD.replace('timeout: 300ms', 'timeout: 5s'));
    expect((await changed).routes[0]!.timeoutMs).toBe(5000);
  });
});
