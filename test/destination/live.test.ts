// Live changes reach a running client: file edits within a second, broken edits keep the last
// good state, Service deletion, pods leaving and joining, and refused registrations.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { destinationStubs } from '../../api/destination-channel.ts';
import { addresses, pod, harnessForFile, until, waitFor, } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { MAX_CONDITION_DEPTH } from '../../destination/store/kinds/service-profile.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const h = harnessForFile('lesson', `${NET}.2`);

const lessonFile = () => join(h.dir, 'lesson.yaml');
const weights = (p: { httpRoutes: Array<{ rules: Array<{ backends: Array<{ weight: number }> }> }> }) =>
  p.httpRoutes[0]?.rules[0]?.backends.map((b) => b.weight);

/** checkout's ServiceProfile with one route, named and matched by `route`: which file is in force. */
const checkoutProfile = (route: string) => `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: checkout.production.svc.cluster.local, namespace: production}
spec:
  routes: [{name: ${route}, condition: {method: GET, pathRegex: /${route}}}]
`;
const routeIs = (name: string) => (p: { routes: Array<{ name: string }> }) => p.routes[0]?.name === name;

describe('file edits', () => {
  it('streams a ServiceProfile whose condition nests as deep as the store accepts', async () => {
    // Each level has a field of its own beside its `all` (read as an `all` of both): the most
    // nested messages a condition of MAX_CONDITION_DEPTH levels can take on the wire.
    let condition = '{method: GET}';
    for (let i = 0; i < MAX_CONDITION_DEPTH; i++) condition = `{method: GET, all: [${condition}]}`;
    const file = join(h.dir, 'checkout-profile.yaml');
    writeFileSync(file, `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: checkout.production.svc.cluster.local, namespace: production}
spec:
  routes: [{name: deep, condition: ${condition}}]
`);
    try {
      const client = await h.client('production/orders', { namespace: 'production' });
      const profile = await until(client.profile('checkout:8080'), (p) => p.routes.length === 1, 5_000, 'the deep profile');
      // A level arrives as {all: [{method}, {all: [the next level]}]}.
      let depth = 0;
      for (let m = profile.routes[0]!.condition; 'all' in m; depth++) {
        expect(m.all[0]).toEqual({ method: 'GET' });
        const next = m.all[1]!;
        if (!('all' in next)) throw new Error(`level ${depth} arrived as ${JSON.stringify(next)}`);
        m = next.all[0]!;
      }
      expect(depth).toBe(MAX_CONDITION_DEPTH);
    } finally {
      rmSync(file);
    }
  });
  it('moves a running client\'s split within one second, and a broken edit keeps the old state', async () => {
    const client = await h.client('production/checkout', { namespace: 'production' });
    const cell = client.profile('orders:8080');
    expect(weights(await cell.first(5_000))).toEqual([90, 10]);

    const original = readFileSync(lessonFile(), 'utf8');
    const started = Date.now();
    writeFileSync(lessonFile(), original.replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    await until(cell, (p) => weights(p)?.join() === '50,50', 1_000, '50/50 split within 1 s');
    const elapsed = Date.now() - started;
    console.log(`file edit reached the client in ${elapsed} ms`);
    expect(elapsed).toBeLessThan(1_000);

    writeFileSync(lessonFile(), original.replace('weight: 10', 'weight: -5'));
    const errors = () => h.server.store.problems().filter((p) => p.severity === 'error').map((p) => p.message);
    // Wait for the reload that rejects it, then give a wrong push time to arrive before checking.
    await waitFor(() => errors().length > 0, 5_000, 'the reload that rejects the weight');
    await new Promise((r) => setTimeout(r, 300));
    expect(weights(cell.get()!)).toEqual([50, 50]); // the last good HTTPRoute stays in force
    expect(errors()).toEqual([
      `${lessonFile()}: HTTPRoute production/orders-canary: spec.rules[0].backendRefs[1].weight: must be a non-negative integer, got -5 (the last good version stays in force)`,
    ]);
    // The ServiceProfile in the same file still loads.
    expect((await client.profile('orders:8080').first(1_000)).routes).toHaveLength(2);

    writeFileSync(lessonFile(), original);
    await until(cell, (p) => weights(p)?.join() === '90,10', 1_000, 'restored split');
    expect(h.server.store.problems().filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('sees every save after an editor replaced the file, and files in a folder made while running', async () => {
    // `sed -i`, vim and most editors save by writing a new file and renaming it over the old one.
    // A watch that followed the file (Node 20's recursive watch does) lost it there: the next
    // saves in place went unseen while the destination kept serving the old split.
    const client = await h.client('production/checkout', { namespace: 'production' });
    const cell = client.profile('orders:8080');
    expect(weights(await cell.first(5_000))).toEqual([90, 10]);
    const original = readFileSync(lessonFile(), 'utf8');
    try {
      execFileSync('sed', ['-i', 's/weight: 90/weight: 70/; s/weight: 10/weight: 30/', lessonFile()]);
      await until(cell, (p) => weights(p)?.join() === '70,30', 5_000, 'the split saved by sed -i');
      writeFileSync(lessonFile(), original.replace('weight: 90', 'weight: 60').replace('weight: 10', 'weight: 40'));
      await until(cell, (p) => weights(p)?.join() === '60,40', 5_000, 'the split saved in place after the rename');
    } finally {
      writeFileSync(lessonFile(), original);
    }
    await until(cell, (p) => weights(p)?.join() === '90,10', 5_000, 'the split restored in place');

    // A folder made while the destination runs, and a file in it saved both ways.
    const folder = join(h.dir, 'more', 'profiles');
    const file = join(folder, 'checkout.yaml');
    const routes = client.profile('checkout:8080');
    try {
      mkdirSync(folder, { recursive: true });
      writeFileSync(file, checkoutProfile('one'));
      await until(routes, routeIs('one'), 5_000, 'the profile in a new folder');
      execFileSync('sed', ['-i', 's/one/two/g', file]);
      await until(routes, routeIs('two'), 5_000, 'the new folder\'s file saved by sed -i');
      writeFileSync(file, checkoutProfile('three'));
      await until(routes, routeIs('three'), 5_000, 'the new folder\'s file saved in place');
    } finally {
      rmSync(join(h.dir, 'more'), { recursive: true, force: true });
    }
    await until(routes, (p) => p.routes.length === 0, 5_000, 'the profile gone with its folder');
  });

  it('sees edits in a folder replaced by another of the same name, and in the whole folder replaced', async () => {
    // A watch follows its folder's inode, as a file's does: a folder swapped for a new one (a
    // checkout, an rsync, `mv new old`) must be watched anew, the resource folder itself too.
    const client = await h.client('production/checkout', { namespace: 'production' });
    const routes = client.profile('checkout:8080');
    const folder = join(h.dir, 'swapped');
    try {
      mkdirSync(folder);
      writeFileSync(join(folder, 'checkout.yaml'), checkoutProfile('first'));
      await until(routes, routeIs('first'), 5_000, 'the profile in the first folder');
      const next = join(h.dir, 'swapped.next');
      mkdirSync(next);
      writeFileSync(join(next, 'checkout.yaml'), checkoutProfile('second'));
      rmSync(folder, { recursive: true });
      renameSync(next, folder);
      await until(routes, routeIs('second'), 5_000, 'the profile of the folder moved in');
      writeFileSync(join(folder, 'checkout.yaml'), checkoutProfile('third'));
      await until(routes, routeIs('third'), 5_000, 'a save in the folder that replaced the first');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    await until(routes, (p) => p.routes.length === 0, 5_000, 'the profile gone with its folder');

    // The resource folder itself gone for a moment, then back as a copy: found again (while it is
    // missing it is looked for every second), and the last good state served meanwhile.
    const cell = client.profile('orders:8080');
    expect(weights(await cell.first(5_000))).toEqual([90, 10]);
    const old = `${h.dir}.old`;
    renameSync(h.dir, old);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(weights(cell.get()!)).toEqual([90, 10]);
      cpSync(old, h.dir, { recursive: true });
      const original = readFileSync(lessonFile(), 'utf8');
      writeFileSync(lessonFile(), original.replace('weight: 90', 'weight: 80').replace('weight: 10', 'weight: 20'));
      await until(cell, (p) => weights(p)?.join() === '80,20', 5_000, 'a save in the resource folder that replaced the first');
      writeFileSync(lessonFile(), original);
      await until(cell, (p) => weights(p)?.join() === '90,10', 5_000, 'the split restored in the new folder');
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});

describe('endpoints', () => {
  it('a proxy that leaves disappears from every watcher; a new replica joins; deleting the Service sends no endpoints', async () => {
    const watchers = await Promise.all([1, 2, 3].map(() => h.client('production/checkout', { namespace: 'production' })));
    const cells = watchers.map((w) => w.endpoints('orders-stable.production:8080'));
    const a = await h.client('production/orders', { pod: pod('stable-a', `${NET}.21`, { app: 'orders', track: 'stable' }) });
    await Promise.all(cells.map((c) => until(c, (s) => addresses(s).join() === `${NET}.21:8080`)));

    const b = await h.client('production/orders', { pod: pod('stable-b', `${NET}.22`, { app: 'orders', track: 'stable' }) });
    await Promise.all(cells.map((c) => until(c, (s) => addresses(s).join() === `${NET}.21:8080,${NET}.22:8080`, 2_000, 'replica joined')));

    a.close(); // the registration stream ends
    await Promise.all(cells.map((c) => until(c, (s) => addresses(s).join() === `${NET}.22:8080`, 2_000, 'endpoint removed')));

    const services = join(h.dir, 'services.yaml');
    const text = readFileSync(services, 'utf8');
    rmSync(services);
    await Promise.all(cells.map((c) => until(c, (s) => s.kind === 'unknown', 1_000, 'no endpoints after deleting the Service')));
    writeFileSync(services, text);
    await Promise.all(cells.map((c) => until(c, (s) => addresses(s).join() === `${NET}.22:8080`, 1_000, 'Service back')));
    b.close();
  });

  it('a dual-stack pod is found by its address of either family, and reached at its pod IP', async () => {
    const checkout = await h.client('production/checkout', { namespace: 'production' });
    const byIpv6 = checkout.endpoints('[fd00:21::25]:8080');
    const byIpv4 = checkout.endpoints(`${NET}.25:8080`);
    const dual = await h.client('production/orders', { pod: { ...pod('dual-a', `${NET}.25`, { app: 'orders', track: 'dual' }), otherIps: ['fd00:21::25'] } });
    await until(byIpv4, (s) => addresses(s).join() === `${NET}.25:8080`, 2_000, 'the dual-stack pod by its IPv4 address');
    const found = await until(byIpv6, (s) => addresses(s).join() === `${NET}.25:8080`, 2_000, 'the dual-stack pod by its IPv6 address');
    expect(found.kind === 'endpoints' && found.endpoints[0]!.identity).toBe('spiffe://cluster.local/ns/production/sa/orders');
    dual.close();
    await until(byIpv6, (s) => s.kind === 'unknown' || (s.kind === 'endpoints' && s.endpoints.length === 0), 2_000, 'gone with its registration');
  });

  it('a canary replica joins its Service and leaves it', async () => {
    const checkout = await h.client('production/checkout', { namespace: 'production' });
    const canary = checkout.endpoints('orders-canary:8080');
    const c = await h.client('production/orders', { pod: pod('canary-a', `${NET}.23`, { app: 'orders', track: 'canary' }) });
    await until(canary, (s) => addresses(s).join() === `${NET}.23:8080`);
    c.close();
    await until(canary, (s) => s.kind === 'endpoints' && s.endpoints.length === 0, 2_000, 'empty');
  });
});

describe('inbound policy', () => {
  it('waits for the pod to register before the first policy, so a Server-protected port never starts on the default', async () => {
    const anonymous = destinationStubs(h.server.address, { trustAnchorsPem: h.pki.anchorPem });
    const call = anonymous.inbound.watchPort({ workload: 'production/late-1', port: 9090, defaultPolicy: 'all-unauthenticated' }) as grpc.ClientReadableStream<{
      server: { name: string } | null;
    }>;
    const messages: Array<string | null> = [];
    call.on('data', (m) => messages.push(m.server?.name ?? null));
    call.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(messages).toEqual([]);
    const late = await h.client('production/orders', { pod: pod('late-1', `${NET}.24`, { app: 'orders' }) });
    await waitFor(() => messages.length > 0, 2_000, 'first policy');
    await new Promise((r) => setTimeout(r, 100));
    expect(messages).toEqual(['production/orders-grpc']);
    call.cancel();
    anonymous.close();
    late.close();
  });
});

describe('registration', () => {
  const announce = (stubs: ReturnType<typeof destinationStubs>, msg: object) =>
    new Promise<{ events: Array<{ accepted: boolean; message: string }>; status?: grpc.StatusObject }>((resolve) => {
      const call = stubs.registration.register() as grpc.ClientDuplexStream<object, { accepted: boolean; message: string }>;
      const events: Array<{ accepted: boolean; message: string }> = [];
      call.on('data', (e) => {
        events.push(e);
        if (e.accepted) {
          call.cancel();
          resolve({ events });
        }
      });
      call.on('error', () => undefined);
      call.on('status', (status) => resolve({ events, status }));
      call.write(msg);
    });

  const base = { name: 'orders-x', labels: { app: 'orders' }, ip: `${NET}.30`, ports: [{ name: 'http', port: 8080 }] };

  it('refuses a namespace or service account other than the certificate\'s, and a caller without a certificate', async () => {
    const creds = await h.pki.credentialsFor('production/checkout');
    const stubs = destinationStubs(h.server.address, { trustAnchorsPem: h.pki.anchorPem, client: creds });
    const otherNs = await announce(stubs, { ...base, namespace: 'staging' });
    expect(otherNs.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(otherNs.events[0]).toEqual({ accepted: false, message: 'namespace: the certificate is for namespace production, the announcement claims staging' });

    const otherSa = await announce(stubs, { ...base, namespace: 'production', serviceAccount: 'orders' });
    expect(otherSa.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(otherSa.events[0]!.message).toBe('service_account: the certificate is for checkout, the announcement claims orders');

    const anonymous = destinationStubs(h.server.address, { trustAnchorsPem: h.pki.anchorPem });
    const noCert = await announce(anonymous, { ...base, namespace: 'production' });
    expect(noCert.status?.code).toBe(grpc.status.UNAUTHENTICATED);

    // A certificate from another CA is not verified, so it counts as none.
    const foreign = await (await import('../helpers/pki.ts')).testPki();
    const forged = destinationStubs(h.server.address, { trustAnchorsPem: h.pki.anchorPem, client: await foreign.credentialsFor('production/orders') });
    const forgedResult = await announce(forged, { ...base, namespace: 'production' });
    expect(forgedResult.status?.code).toBe(grpc.status.UNAUTHENTICATED);

    // An announcement far larger than any pod's is refused before it is decoded.
    const huge = await announce(stubs, { ...base, name: 'orders-huge', labels: { padding: 'x'.repeat(128 * 1024) } });
    expect(huge.status?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const ok = await announce(stubs, { ...base, namespace: 'production', serviceAccount: 'checkout' });
    expect(ok.events[0]!.accepted).toBe(true);
    for (const s of [stubs, anonymous, forged]) s.close();

    // None of the refused pods ever became an endpoint.
    expect(h.server.discovery.pods.all().filter((p) => p.name === 'orders-x' && p.serviceAccount !== 'checkout')).toEqual([]);
    expect(h.server.discovery.pods.all().filter((p) => p.name === 'orders-huge')).toEqual([]);
  });

  it('refuses malformed announcements with the field named', async () => {
    const creds = await h.pki.credentialsFor('production/orders');
    const stubs = destinationStubs(h.server.address, { trustAnchorsPem: h.pki.anchorPem, client: creds });
    const badIp = await announce(stubs, { ...base, ip: 'not-an-ip' });
    expect(badIp.status?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badIp.events[0]!.message).toBe('ip: must be an IP address, got "not-an-ip"');
    for (const [otherIps, why] of [
      [['fd00::1', 'fd00::2'], 'other_ips: a pod has at most one address of its other family, got 2'],
      [[`${NET}.31`], `other_ips: must be an IP address of the family ip is not, got "${NET}.31" beside ip "${NET}.30"`],
      [['pod-b'], `other_ips: must be an IP address of the family ip is not, got "pod-b" beside ip "${NET}.30"`],
    ] as const) {
      const bad = await announce(stubs, { ...base, otherIps });
      expect([bad.status?.code, bad.events[0]!.message]).toEqual([grpc.status.INVALID_ARGUMENT, why]);
    }
    stubs.close();
  });
});
