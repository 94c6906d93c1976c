// Development mode: discovery from Kubernetes YAML through the destination's store and index
// (the demo's own manifests, Pods as registrations, live reload, and refusal of bad resources).
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevResolver, type DevResolverOptions } from '../../../proxy/discovery/dev-resolver.ts';
import type { EndpointSet } from '../../../api/destination-types.ts';

const STABLE_ID = 'spiffe://cluster.local/ns/production/sa/orders';
/** The demo's own resources, as the destination serves them in `npm start`. */
const MANIFESTS = join(import.meta.dirname, '../../../examples/orders-checkout/manifests');

const pod = (name: string, ip: string, version = 'stable') => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: production, labels: { app: orders, version: ${version} } }
spec:
  serviceAccountName: orders
  containers:
    - { name: app, ports: [ { name: http, containerPort: 8080 }, { name: grpc, containerPort: 9090 } ] }
    - { name: mesh-proxy, ports: [ { name: mesh-inbound, containerPort: 4143 }, { name: mesh-admin, containerPort: 4191 } ] }
status: { podIP: ${ip} }
`;
const PODS = `${pod('orders-stable-0', '127.0.10.3')}---${pod('orders-canary-0', '127.0.10.4', 'canary')}`;

let dir: string;
let file: string;
let resolver: DevResolver | undefined;
let logLines: Array<Record<string, unknown>>;

function options(extra: Partial<DevResolverOptions> = {}): DevResolverOptions {
  logLines = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { logLines.push(JSON.parse(c.toString())); cb(); } }));
  return { podIp: '127.0.10.3', namespace: 'production', defaultPolicy: 'all-authenticated', logger, debounceMs: 20, ...extra };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dev-resolver-'));
  cpSync(MANIFESTS, dir, { recursive: true });
  file = join(dir, 'pods.yaml');
  writeFileSync(file, PODS);
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
  it('answers from the demo\'s own resources as the destination would, the Pods standing for registrations', () => {
    resolver = new DevResolver(dir, options());
    const stable = {
      address: '127.0.10.3:8080',
      weight: 1,
      identity: STABLE_ID,
      inboundPort: 4143,
      h2: true,
      labels: { app: 'orders', version: 'stable', pod: 'orders-stable-0', namespace: 'production', serviceaccount: 'orders' },
      metricLabels: { namespace: 'production', pod: 'orders-stable-0', service: 'orders-stable' },
    };
    expect(resolver.endpoints('orders-stable.production.svc.cluster.local:8080').get()).toEqual({ kind: 'endpoints', endpoints: [stable] });
    expect(addresses(resolver.endpoints('orders:8080').get())).toEqual(['127.0.10.3:8080', '127.0.10.4:8080']);
    // Short names resolve against the proxy's namespace, as Kubernetes DNS search paths do.
    for (const short of ['orders:9090', 'orders.production:9090', 'orders.production.svc:9090', 'ORDERS.production.svc.cluster.local.:9090']) {
      expect(addresses(resolver.endpoints(short).get()), short).toEqual(['127.0.10.3:9090', '127.0.10.4:9090']);
    }
    expect(resolver.endpoints('payments:8080').get()).toEqual({ kind: 'endpoints', endpoints: [] }); // a Service, no Pod
    expect(resolver.endpoints('orders:7000').get()).toEqual({ kind: 'endpoints', endpoints: [] }); // a port the Service lacks
    expect(resolver.endpoints('nothing:8080').get()).toEqual({ kind: 'unknown' });
    expect(resolver.endpoints('not an authority').get()).toEqual({ kind: 'unknown' });

    // The lesson's ServiceProfile (its retryBudget written inside a route, applied to the profile) and canary split.
    const profile = resolver.profile('orders:8080').get()!;
    expect(profile.fqdn).toBe('orders.production.svc.cluster.local');
    expect(profile.routes.map((r) => [r.name, r.timeoutMs, r.isRetryable])).toEqual([['POST /orders', 500, false], ['GET /orders/{id}', 200, true]]);
    expect(profile.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 });
    expect(profile.httpRoutes[0]!.rules[0]!.backends).toEqual([
      { authority: 'orders-stable.production.svc.cluster.local:8080', weight: 90 },
      { authority: 'orders-canary.production.svc.cluster.local:8080', weight: 10 },
    ]);
    expect(resolver.profile('127.0.10.3:8080').get()).toEqual({ fqdn: '', routes: [], httpRoutes: [] });

    // This proxy's own Pod is the one at its address: the lesson's Server selects it on 9090.
    const policy = resolver.inboundPolicy(9090).get()!;
    expect(policy).toMatchObject({ port: 9090, server: { name: 'production/orders-grpc', protocol: 'gRPC' }, defaultPolicy: 'all-authenticated' });
    expect(policy.authorizations[0]!.authentication.identities).toEqual(['spiffe://cluster.local/ns/production/sa/checkout']);
    expect(resolver.inboundPolicy(8080).get()).toMatchObject({ port: 8080, authorizations: [], defaultPolicy: 'all-authenticated' });
    expect(resolver.inboundPolicy(8080).get()!.server).toBeUndefined();
    // One cell per key: repeated calls share the watch.
    expect(resolver.endpoints('orders:8080')).toBe(resolver.endpoints('orders:8080'));
  });

  it('reads one file too; a proxy with no Pod of its own gets the default policy', () => {
    const one = join(dir, 'one.yaml');
    writeFileSync(one, `${readFileSync(join(dir, 'services.yaml'), 'utf8')}\n---${PODS}`);
    resolver = new DevResolver(one, options({ podIp: '127.0.10.9' }));
    expect(addresses(resolver.endpoints('orders-canary:8080').get())).toEqual(['127.0.10.4:8080']);
    expect(resolver.profile('orders:8080').get()!.routes).toEqual([]); // lesson.yaml is not read
    expect(resolver.inboundPolicy(9090).get()).toMatchObject({ authorizations: [], defaultPolicy: 'all-authenticated' });
  });

  it('updates live cells when a file changes, also when it is replaced', async () => {
    resolver = new DevResolver(dir, options());
    const cell = resolver.endpoints('orders:8080');
    const changed = next<EndpointSet>(cell);
    writeFileSync(file, `${PODS}---${pod('orders-stable-1', '127.0.10.5')}`);
    expect(addresses(await changed)).toEqual(['127.0.10.3:8080', '127.0.10.4:8080', '127.0.10.5:8080']);

    // An editor's save: write a temporary file, rename it over the original. Pods gone are unregistered.
    const replaced = next<EndpointSet>(cell);
    const tmp = join(dir, '.pods.yaml.swp');
    writeFileSync(tmp, pod('orders-stable-0', '127.0.10.7'));
    renameSync(tmp, file);
    expect(addresses(await replaced)).toEqual(['127.0.10.7:8080']);
  });

  it('refuses bad resources at start, naming the file, the resource and the field', () => {
    const lesson = join(dir, 'lesson.yaml');
    const taught = readFileSync(lesson, 'utf8');
    const cases: Array<[string, string, string]> = [
      [file, pod('orders-1', 'not-an-ip'), `${file}: Pod production/orders-1: status.podIP: must be an IP address, got "not-an-ip"`],
      [file, pod('orders-1', '127.0.10.2').replace('containerPort: 4143', 'containerPort: 70000'), `${file}: Pod production/orders-1: spec.containers[1].ports[0].containerPort: must be an integer from 1 to 65535, got 70000`],
      [file, 'kind: [', `${file}: document 1: YAML syntax:`],
      [lesson, taught.replace('pathRegex: /orders/[^/]+', "pathRegex: '('"), `${lesson}: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[1].condition.pathRegex: is not a valid regular expression`],
      [lesson, taught.replace('timeout: 200ms', 'timeout: soon'), `${lesson}: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[1].timeout:`],
      [lesson, taught.replace('kind: Server\n', 'kind: Servr\n'), `${lesson}: document 3: Servr production/orders-grpc: kind: must be one of Service, `],
    ];
    for (const [where, text, why] of cases) {
      writeFileSync(where, text);
      let err: (Error & { code?: string }) | undefined;
      try {
        new DevResolver(dir, options()).close();
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code, text).toBe('DEV_RESOURCES_INVALID');
      expect(err!.message, text).toContain(why);
      writeFileSync(lesson, taught);
      writeFileSync(file, PODS);
    }
    const missing = join(dir, 'missing');
    expect(() => new DevResolver(missing, options())).toThrow(`${missing}: cannot list the resource folder: ENOENT`);
  });

  it('keeps the last good version of a resource when an edit is bad, and logs why', async () => {
    const lesson = join(dir, 'lesson.yaml');
    const taught = readFileSync(lesson, 'utf8');
    resolver = new DevResolver(dir, options());
    const cell = resolver.profile('orders:8080');
    const before = cell.get();
    writeFileSync(lesson, taught.replace('timeout: 200ms', 'timeout: soon'));
    await expect.poll(() => logLines.find((l) => l.level === 50), { timeout: 5000 }).toBeTruthy();
    const line = logLines.find((l) => l.level === 50)!;
    expect(line.problem).toContain(`${lesson}: ServiceProfile production/orders.production.svc.cluster.local: spec.routes[1].timeout:`);
    expect(line.problem).toContain('(the last good version stays in force)');
    expect(cell.get()).toBe(before);
    // A fixed file applies again.
    const changed = next(cell);
    writeFileSync(lesson, taught.replace('timeout: 200ms', 'timeout: 5s'));
    expect((await changed).routes[1]!.timeoutMs).toBe(5000);
  });
});
