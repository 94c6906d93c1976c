// The static endpoints file: lookups (with short names), live reload, and refusal of bad files.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StaticResolver } from '../../../proxy/discovery/static-resolver.ts';
import type { EndpointSet } from '../../../api/destination-types.ts';

const ORDERS_ID = 'spiffe://cluster.local/ns/production/sa/orders';

const GOOD = `
services:
  orders.production.svc.cluster.local:8080:
    endpoints:
      - address: 127.0.10.2:8080
        identity: ${ORDERS_ID}
        inboundPort: 4143
        labels: { pod: orders-1 }
      - { address: 127.0.10.3:8080, weight: 3 }
    profile:
      routes:
        - name: GET /orders/{id}
          condition: { all: [ { method: GET }, { pathRegex: '/orders/[^/]+' } ] }
          responseClasses: [ { condition: { status: { min: 500, max: 599 } }, isFailure: true } ]
          timeoutMs: 300
          isRetryable: true
      retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 }
  legacy.example.com:80:
    - address: 127.0.10.9:80
inbound:
  defaultPolicy: all-authenticated
  ports:
    "8080":
      server: { name: orders-http, protocol: HTTP/1 }
      authorizations:
        - name: ServerAuthorization production/checkout
          authentication: { identities: [ 'spiffe://cluster.local/ns/production/sa/checkout' ] }
`;

let dir: string;
let file: string;
let resolver: StaticResolver | undefined;
let logLines: Array<Record<string, unknown>>;

function logger() {
  logLines = [];
  return pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { logLines.push(JSON.parse(c.toString())); cb(); } }));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'static-resolver-'));
  file = join(dir, 'endpoints.yaml');
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

describe('StaticResolver', () => {
  it('answers endpoints, profiles and inbound policy from the file', () => {
    resolver = new StaticResolver(file, { namespace: 'production', logger: logger() });
    const eps = resolver.endpoints('orders.production.svc.cluster.local:8080').get();
    expect(eps).toEqual({
      kind: 'endpoints',
      endpoints: [
        { address: '127.0.10.2:8080', identity: ORDERS_ID, inboundPort: 4143, weight: 1, labels: { pod: 'orders-1' } },
        { address: '127.0.10.3:8080', weight: 3, labels: {} },
      ],
    });
    // Short names resolve against the namespace, as Kubernetes DNS search paths do.
    for (const short of ['orders:8080', 'orders.production:8080', 'orders.production.svc:8080', 'ORDERS.production.svc.cluster.local.:8080']) {
      expect(resolver.endpoints(short).get(), short).toEqual(eps);
    }
    expect(resolver.endpoints('legacy.example.com').get()).toMatchObject({ kind: 'endpoints', endpoints: [{ address: '127.0.10.9:80' }] });
    expect(resolver.endpoints('orders:9999').get()).toEqual({ kind: 'unknown' });
    expect(resolver.endpoints('example.org:443').get()).toEqual({ kind: 'unknown' });

    const profile = resolver.profile('orders:8080').get()!;
    expect(profile.fqdn).toBe('orders.production.svc.cluster.local');
    expect(profile.routes[0]).toMatchObject({ name: 'GET /orders/{id}', timeoutMs: 300, isRetryable: true });
    expect(profile.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 });
    expect(resolver.profile('example.org:443').get()).toEqual({ fqdn: 'example.org', routes: [], httpRoutes: [] });

    expect(resolver.inboundPolicy(8080).get()).toMatchObject({ port: 8080, server: { name: 'orders-http', protocol: 'HTTP/1' }, defaultPolicy: 'all-authenticated' });
    expect(resolver.inboundPolicy(8080).get()!.authorizations[0]!.authentication.identities).toEqual(['spiffe://cluster.local/ns/production/sa/checkout']);
    expect(resolver.inboundPolicy(9090).get()).toMatchObject({ port: 9090, authorizations: [], defaultPolicy: 'all-authenticated' });
    // One cell per key: repeated calls share the watch.
    expect(resolver.endpoints('orders:8080')).toBe(resolver.endpoints('orders:8080'));
  });

  it('reads JSON, and the edges\' shorthand of a bare endpoint list', () => {
    const json = join(dir, 'endpoints.json');
    writeFileSync(json, JSON.stringify({ services: { 'web.test:8080': [{ address: '127.0.10.4:8080', inboundPort: 4143 }] } }));
    resolver = new StaticResolver(json, { logger: logger() });
    expect(resolver.endpoints('web.test:8080').get()).toEqual({ kind: 'endpoints', endpoints: [{ address: '127.0.10.4:8080', inboundPort: 4143, weight: 1, labels: {} }] });
    expect(resolver.inboundPolicy(8080).get()).toMatchObject({ defaultPolicy: 'all-unauthenticated' });
  });

  it('updates live cells when the file changes, also when it is replaced', async () => {
    resolver = new StaticResolver(file, { namespace: 'production', logger: logger(), debounceMs: 20 });
    const cell = resolver.endpoints('orders:8080');
    const unknown = resolver.endpoints('payments:8080');
    const changed = next<EndpointSet>(cell);
    writeFileSync(file, GOOD.replace('127.0.10.3:8080', '127.0.10.5:8080'));
    expect(((await changed) as { endpoints: Array<{ address: string }> }).endpoints.map((e) => e.address)).toEqual(['127.0.10.2:8080', '127.0.10.5:8080']);
    expect(unknown.get()).toEqual({ kind: 'unknown' });

    // An editor's save: write a temporary file, rename it over the original.
    const appeared = next<EndpointSet>(unknown);
    const tmp = join(dir, '.endpoints.yaml.swp');
    writeFileSync(tmp, GOOD.replace('\ninbound:', '\n  payments.production.svc.cluster.local:8080:\n    - address: 127.0.10.7:8080\ninbound:'));
    renameSync(tmp, file);
    expect(await appeared).toMatchObject({ kind: 'endpoints', endpoints: [{ address: '127.0.10.7:8080' }] });
  });

  it('refuses a bad file at start with the file and the field named', () => {
    const cases: Array<[string, string]> = [
      ['services: { "a.b:80": [ { address: "not-an-ip:80" } ] }', 'services["a.b:80"][0].address: expected ip:port, got "not-an-ip:80"'],
      ['services: { "a.b:80": [ { address: "10.0.0.1:80", inboundPort: 70000 } ] }', 'services["a.b:80"][0].inboundPort: expected a port 1-65535, got 70000'],
      ['services: { "a.b:80": [ { address: "10.0.0.1:80", identity: "orders" } ] }', 'services["a.b:80"][0].identity: expected spiffe://'],
      ['services: { "a.b:80": { endpoint: [] } }', 'services["a.b:80"].endpoint: unknown field'],
      ['services: { "a.b:80": { profile: { routes: [ { name: r, condition: { pathRegex: "(" } } ] } } }', 'services["a.b:80"].profile.routes[0].condition.pathRegex: not a valid regular expression'],
      ['inbound: { defaultPolicy: allow }', 'inbound.defaultPolicy: expected one of all-unauthenticated'],
      ['inbound: { ports: { "80": { authorizations: [ { name: x, authentication: { networks: [ "10.0.0.0/33" ] } } ] } } }', 'inbound.ports["80"].authorizations[0].authentication.networks[0]: expected a CIDR'],
      ['services: [', 'not valid YAML or JSON'],
    ];
    for (const [text, why] of cases) {
      writeFileSync(file, text);
      let err: (Error & { code?: string }) | undefined;
      try {
        new StaticResolver(file, { logger: logger() }).close();
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code, text).toBe('STATIC_FILE_INVALID');
      expect(err!.message, text).toContain(`${file}: ${why}`);
    }
    rmSync(file);
    expect(() => new StaticResolver(file, { logger: logger() })).toThrow(`${file}: cannot read: ENOENT`);
  });

  it('keeps the last good state when an edit is bad, and logs why', async () => {
    resolver = new StaticResolver(file, { namespace: 'production', logger: logger(), debounceMs: 20 });
    const cell = resolver.endpoints('orders:8080');
    const before = cell.get();
    const generation = resolver.generation;
    writeFileSync(file, GOOD.replace('weight: 3', 'weight: heavy'));
    await expect.poll(() => logLines.find((l) => l.level === 50), { timeout: 5000 }).toBeTruthy();
    const line = logLines.find((l) => l.level === 50)!;
    expect(line.msg).toContain(`${file}: services["orders.production.svc.cluster.local:8080"].endpoints[1].weight: expected a number`);
    expect(cell.get()).toBe(before);
    expect(resolver.generation).toBe(generation);
    // A fixed file applies again.
    const changed = next<EndpointSet>(cell);
    writeFileSync(file, GOOD.replace('weight: 3', 'weight: 5'));
    expect(((await changed) as { endpoints: Array<{ weight: number }> }).endpoints[1]!.weight).toBe(5);
  });
});
