// `mesh check` against a real small mesh (identity, destination and two sidecars as processes on
// a 127.41.N.x of its own), each × made by breaking one thing on purpose: a stopped destination, a replaced
// trust anchor, an expired issuer, a broken resource file, a proxy that cannot get a certificate,
// an address already taken. Nothing here binds the demo's own addresses.
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../identity/ca.ts';
import { initIdentityDir } from '../../identity/files.ts';
import {
  copyManifests, DESTINATION_ADDR, NET, ROOT, VIZ_ADDR, httpOk, IDENTITY_ADDR, makeCa, mintToken, podRecord, start, startProxy, until, writeRun, type Running, type TestPod,
} from './check-harness.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { runMesh } from './run-mesh.ts';
import { preCategories } from '../../cli/check/pre.ts';
import { parseTable, sample, shape } from './check-table.ts';
import { splitHostPort } from '../../api/host-port.ts';

/** `mesh check --pre`'s demo plan, moved (MESH_DEMO_NET) into a second /24 of this run's own. */
const PRE_DEMO_NET = await addressBlock();
const CHECKOUT: TestPod = { name: 'checkout-0', namespace: 'production', serviceAccount: 'checkout', ip: `${NET}.20` };
/** Its CA address accepts nothing: it never gets a certificate, so it is never ready. */
const STUCK: TestPod = { name: 'stuck-0', namespace: 'staging', serviceAccount: 'stuck', ip: `${NET}.21` };

let tmp: string;
let state: string;
const running: Running[] = [];
let destination: Running;

/** Does something accept TCP at `address` right now? The test's own view, to compare with the check's. */
function listening(address: string): Promise<boolean> {
  const { host, port } = splitHostPort(address, 'the address');
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** The lines of the check's output from `from` up to the next blank line. */
function block(out: string, from: string): string {
  const at = out.indexOf(from);
  if (at < 0) throw new Error(`"${from}" not in:\n${out}`);
  return out.slice(at).split('\n\n')[0]!;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mesh-check-'));
  state = join(tmp, 'state');
  await makeCa(state);
  // Each process is listed for afterAll as soon as it runs: a start that fails later must not leave it running.
  const identity = start(['identity', 'serve', '--dir', join(state, 'identity'), '--addr', IDENTITY_ADDR]);
  running.push(identity);
  destination = start(['destination', 'serve', '--resources', join(import.meta.dirname, '../../examples/orders-checkout/manifests'), '--addr', DESTINATION_ADDR, '--ca-dir', join(state, 'identity')]);
  running.push(destination);
  await until('identity', () => listening(IDENTITY_ADDR), identity);
  await until('destination', () => listening(DESTINATION_ADDR), destination);
  const checkout = await startProxy(state, CHECKOUT);
  running.push(checkout);
  const stuck = await startProxy(state, STUCK, `${NET}.13:8080`);
  running.push(stuck);
  await until('checkout-0 proxy', httpOk(`http://${CHECKOUT.ip}:4191/ready`), checkout);
  await until('stuck-0 admin', async () => (await fetch(`http://${STUCK.ip}:4191/live`)).status === 200, stuck);
  writeRun(state, [podRecord(CHECKOUT), podRecord(STUCK)], { trustAnchorsFile: join(state, 'identity', 'ca.crt') });
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

describe('mesh check on a working control plane', () => {
  it('passes identity, control plane and resources; says what the data plane lacks', async () => {
    const r = await runMesh(['check', '--state', state]);
    expect(r.err).toBe('');
    expect(block(r.out, 'mesh-identity')).toMatch(/^mesh-identity\n-------------\n√ certificate config is valid\n√ trust anchors are within their validity period\n√ trust anchors are valid for at least 60 days \(3649 days left\)\n√ issuer cert is within its validity period\n√ issuer cert is valid for at least 60 days \(364 days left\)\n√ issuer cert is issued by the trust anchor$/);
    expect(block(r.out, 'mesh-control-plane')).toBe([
      'mesh-control-plane', '------------------',
      `√ identity is reachable at ${IDENTITY_ADDR} and proves its identity`,
      `√ destination is reachable at ${DESTINATION_ADDR} and proves its identity`,
    ].join('\n'));
    expect(block(r.out, 'mesh-resources')).toMatch(/^mesh-resources\n--------------\n√ every resource in .*manifests is valid\n[√‼] the policy has no warnings/);
    // The stuck proxy (no CA) fails readiness, naming itself and the reason its /ready gives.
    const dataPlane = block(r.out, 'mesh-data-plane');
    expect(dataPlane).toContain(`× data plane proxies are ready\n    stuck-0: not ready: no certificate yet from the identity CA at ${NET}.13:8080`);
    expect(dataPlane).toContain('    hint: read its log: ');
    expect(r.out).toMatch(/\nStatus check results are ×\n$/);
    expect(r.code).toBe(1);
  });

  it('checks the data plane pod by pod, one namespace with -n given before the command', async () => {
    const r = await runMesh(['-n', 'production', 'check', '--proxy', '--state', state]);
    const dataPlane = block(r.out, 'mesh-data-plane');
    expect(dataPlane).not.toContain('stuck-0');
    expect(dataPlane).toContain('√ production/checkout-0 proxy is ready');
    expect(dataPlane).toMatch(/√ production\/checkout-0 certificate is valid and chains to the trust anchor \(expires in \d+ hours\)/);
    expect(dataPlane).toMatch(/√ production\/checkout-0 clock agrees with this machine's \(within \d+ ms\)/);
    // Tap: what the check says must be what a TCP connect finds (the tap server is another engineer's).
    const tapUp = await listening(`${CHECKOUT.ip}:4190`);
    expect(dataPlane).toContain(`${tapUp ? '√' : '×'} production/checkout-0 tap is reachable (port 4190)`);
    if (!tapUp) expect(dataPlane).toContain(`checkout-0: tap nothing accepts connections on ${CHECKOUT.ip}:4190 (connection refused)`);
  });

  it('shows the stuck pod pod by pod in its namespace', async () => {
    const r = await runMesh(['check', '--proxy', '-n', 'staging', '--state', state, '-o', 'json']);
    const out = JSON.parse(r.out) as { success: boolean; categories: Array<{ categoryName: string; checks: Array<{ description: string; result: string; error?: string; hint?: string }> }> };
    expect(out.success).toBe(false);
    const checks = out.categories.find((c) => c.categoryName === 'mesh-data-plane')!.checks;
    expect(checks.map((c) => c.description)).toContain('staging/stuck-0 proxy is ready');
    const ready = checks.find((c) => c.description === 'staging/stuck-0 proxy is ready')!;
    expect(ready).toMatchObject({ result: 'error', error: expect.stringContaining('not ready: no certificate yet'), hint: expect.stringContaining('stuck-0-proxy.log') });
    expect(checks.find((c) => c.description.startsWith('staging/stuck-0 certificate'))).toMatchObject({ result: 'error', error: 'stuck-0: no certificate yet from the identity CA' });
    expect(r.code).toBe(1);
  });

  it('mesh viz check: no viz, then another HTTP server where the viz should be', async () => {
    const down = await runMesh(['viz', 'check', '--state', state]);
    expect(down.out).toContain(`× viz is reachable at ${VIZ_ADDR}\n    viz: nothing accepts connections on ${VIZ_ADDR} (connection refused)\n    hint: the viz runs with the demo`);
    expect(down.code).toBe(1);
    const other: Server = createServer((_req, res) => { res.statusCode = 404; res.end('no such page'); });
    await new Promise<void>((r) => other.listen(8085, `${NET}.12`, r));
    try {
      const r = await runMesh(['viz', 'check', '--state', state]);
      expect(r.out).toContain(`√ viz is reachable at ${VIZ_ADDR}\n× viz API answers\n    GET /api/v1/health answered 404: no such page\n    hint: something else may hold ${VIZ_ADDR}`);
      expect(r.out).not.toContain('viz hears from the destination');
      expect(r.code).toBe(1);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('mesh viz check against a real viz that scrapes the checkout proxy', async () => {
    // Its dashboard on this file's own address block, any port: the default 127.0.0.1:8084 is one
    // address for the whole machine, so another suite running this test at the same time (or a
    // running demo) would make this viz refuse to start.
    const viz = start(['viz', 'serve', '--listen', VIZ_ADDR, '--dashboard', `${NET}.12:0`, '--destination-addr', DESTINATION_ADDR, '--identity-addr', IDENTITY_ADDR,
      '--trust-anchors', join(state, 'identity', 'ca.crt'), '--token-file', await mintToken(state, 'mesh-viz', 'tap'), '--scrape-interval', '1s']);
    running.push(viz);
    const health = async () => (await fetch(`http://${VIZ_ADDR}/api/v1/health`)).json() as Promise<{ scrapeRounds: number; pods: number }>;
    await until('viz scraping checkout-0', async () => { const h = await health(); return h.scrapeRounds > 1 && h.pods >= 1; }, viz);
    const dir = join(tmp, 'with-viz');
    writeRun(dir, [podRecord(CHECKOUT)], { trustAnchorsFile: join(state, 'identity', 'ca.crt') });
    const r = await runMesh(['viz', 'check', '--state', dir]);
    expect(r.out).toMatch(new RegExp([
      'mesh-viz', '--------', `√ viz is reachable at ${VIZ_ADDR.replaceAll('.', '\\.')}`, '√ viz API answers',
      '√ viz runs the control plane\'s version \\(\\d+\\.\\d+\\.\\d+\\)', '√ viz hears from the destination', '√ viz scrapes every meshed pod \\(1 pods\\)',
    ].join('\n')));
    // The version check agrees with what the viz itself lists for the proxy.
    const listed = await (await fetch(`http://${VIZ_ADDR}/api/v1/pods`)).json() as { controlPlaneVersion: string; pods: Array<{ name: string; proxyVersion: string | null }> };
    const version = listed.pods.find((p) => p.name === 'checkout-0')!.proxyVersion;
    expect(r.out).toContain(version === listed.controlPlaneVersion
      ? `√ data plane proxies run the control plane's version (${version})`
      : `‼ data plane proxies run the control plane's version\n    production/checkout-0: ${version ?? 'no version reported'}`);
    expect(r.code).toBe(0);
  });

  it('runs the checks the README shows, in its order', async () => {
    const r = await runMesh(['check', '--state', join(tmp, 'with-viz')]);
    expect(shape(parseTable(r.out))).toEqual(shape(parseTable(sample('mesh check'))));
  });
});

describe('mesh check with one thing broken on purpose', () => {
  it('a replaced trust anchor: identity and every proxy no longer chain to it', async () => {
    const other = join(tmp, 'other-anchor');
    await initIdentityDir(join(other, 'identity'), { trustDomain: 'cluster.local' });
    writeRun(other, [podRecord(CHECKOUT)], { trustAnchorsFile: join(other, 'identity', 'ca.crt') });
    const r = await runMesh(['check', '--state', other]);
    expect(r.out).toContain(`× identity is reachable at ${IDENTITY_ADDR} and proves its identity\n    identity: ${IDENTITY_ADDR} presents a certificate that does not chain to the trust anchors`);
    expect(r.out).toMatch(/× data plane proxies' certificates are valid and chain to the trust anchor\n {4}checkout-0: "[^"]*" \(issued by "[^"]*"\) is not signed by the trust anchor "[^"]*", the current trust anchor in .*other-anchor\/identity\/ca\.crt/);
    expect(r.out).toContain('hint: the proxy holds a certificate from another CA');
    expect(r.code).toBe(1);
  });

  it('an expired issuer, and one with 30 days left', async () => {
    const DAY = 86_400_000;
    const expired = join(tmp, 'expired');
    const old = await CertificateAuthority.generate({ trustDomain: 'cluster.local', nowMs: Date.now() - 400 * DAY, issuerLifetimeMs: 365 * DAY });
    writeCa(expired, old);
    const r = await runMesh(['check', '--state', expired]);
    expect(r.out).toMatch(/× issuer cert is within its validity period\n {4}issuer certificate "[^"]*" expired 35 days ago \(/);
    expect(r.out).toContain('hint: the CA cannot certify proxies with it; make a new CA: stop the demo, remove ');
    expect(r.code).toBe(1);

    const soon = join(tmp, 'soon');
    writeCa(soon, await CertificateAuthority.generate({ trustDomain: 'cluster.local', issuerLifetimeMs: 30 * DAY + 3_600_000 }));
    const w = await runMesh(['check', '--state', soon]);
    expect(w.out).toContain('√ issuer cert is within its validity period\n‼ issuer cert is valid for at least 60 days\n    the issuer certificate expires in 30 days (');
  });

  it('a bad resource file: the file, resource and field, from the destination\'s own parser', async () => {
    const dir = join(tmp, 'bad-resources');
    const resources = copyManifests(join(tmp, 'bad-manifests'));
    writeFileSync(join(resources, 'broken.yaml'), 'apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: production\nspec:\n  ports:\n    - port: seventy\n');
    writeRun(dir, [], { trustAnchorsFile: join(state, 'identity', 'ca.crt'), resourcesDir: resources });
    const r = await runMesh(['check', '--state', dir]);
    expect(r.out).toMatch(/× every resource in .*bad-manifests is valid\n {4}\S*bad-manifests\/broken\.yaml: Service production\/broken: spec\.ports\[0\]\.port: must be an integer, got "seventy"\n/);
    expect(r.code).toBe(1);
  });

  it('no demo: says so and how to start one, and checks nothing else', async () => {
    const r = await runMesh(['check', '--state', join(tmp, 'nothing')]);
    expect(r.out).toMatch(/^mesh-demo\n---------\n× the running demo is found\n {4}no demo is running \(no .*nothing\/pods\.json\)\. Start it with: npm start\n/);
    expect(r.out).not.toContain('mesh-identity');
    expect(r.code).toBe(1);
  });

  it('a proxy answering nonsense on its admin port: that pod\'s ×, no crash', async () => {
    const liar: Server = createServer((req, res) => res.end(req.url === '/identity' ? '{"identity":1,"now":[],"certificateChainPem":5}' : 'ready\n'));
    await new Promise<void>((r) => liar.listen(4191, `${NET}.22`, r));
    try {
      const dir = join(tmp, 'liar');
      writeRun(dir, [podRecord({ name: 'liar-0', namespace: 'production', serviceAccount: 'liar', ip: `${NET}.22` })], { trustAnchorsFile: join(state, 'identity', 'ca.crt') });
      const r = await runMesh(['check', '--proxy', '--state', dir]);
      expect(r.err).toBe('');
      expect(r.out).toContain('√ production/liar-0 proxy is ready');
      expect(r.out).toContain(`× production/liar-0 certificate is valid and chains to the trust anchor\n    liar-0: GET http://${NET}.22:4191/identity: certificateChainPem is not a PEM string`);
      expect(r.out).toContain('× production/liar-0 clock agrees with this machine\'s\n    liar-0: /identity gave no time');
      // Nothing listens on its tap port.
      expect(r.out).toContain(`× production/liar-0 tap is reachable (port 4190)\n    liar-0: tap nothing accepts connections on ${NET}.22:4190 (connection refused)\n    hint: tap is served by every proxy on port 4190`);
      expect(r.code).toBe(1);
    } finally {
      await new Promise((r) => liar.close(r));
    }
  });

  it('a proxy whose clock runs an hour ahead: ‼ with the skew', async () => {
    const ahead: Server = createServer((req, res) => res.end(req.url === '/identity'
      ? JSON.stringify({ identity: null, now: new Date(Date.now() + 3_600_000).toISOString(), certificateChainPem: null, trustAnchorsPem: null })
      : 'ready\n'));
    await new Promise<void>((r) => ahead.listen(4191, `${NET}.23`, r));
    try {
      const dir = join(tmp, 'ahead');
      writeRun(dir, [podRecord({ name: 'ahead-0', namespace: 'production', serviceAccount: 'ahead', ip: `${NET}.23` })], { trustAnchorsFile: join(state, 'identity', 'ca.crt') });
      const r = await runMesh(['check', '--proxy', '--state', dir]);
      expect(r.out).toMatch(/‼ production\/ahead-0 clock agrees with this machine's\n {4}ahead-0: its clock is 3\d{3}\.\d s ahead of this machine's \(\+- \d+\.\d s\)\n {4}hint: certificates are issued with only 20 s of allowance for skew/);
    } finally {
      await new Promise((r) => ahead.close(r));
    }
  });

  it('a stopped destination', async () => {
    await destination.stop();
    const r = await runMesh(['check', '--state', state]);
    expect(r.out).toContain(`× destination is reachable at ${DESTINATION_ADDR} and proves its identity\n    destination: nothing accepts connections on ${DESTINATION_ADDR} (connection refused)\n    hint: is the demo's destination running? Its log: ${join(state, 'logs', 'destination.log')}`);
    expect(r.out).toContain(`√ identity is reachable at ${IDENTITY_ADDR}`);
    expect(r.code).toBe(1);
  });
});

describe('mesh check --pre', () => {
  const PRE_NET = PRE_DEMO_NET;

  it('passes on a free /24, then names an address already taken and who wants it', async () => {
    const env = { MESH_DEMO_NET: PRE_NET };
    const preState = join(tmp, 'pre-state');
    const good = await runMesh(['check', '--pre', '--state', preState], { env });
    expect(good.out).toMatch(/^pre-demo-setup\n--------------\n√ Node\.js is 20\.10 or newer \(v\d+\.\d+\.\d+\)\n√ the pods' loopback addresses are usable \(\d+ addresses\)\n√ every address the demo listens on is free \(\d+ addresses\)\n√ the state folder .*pre-state is writable\n\nStatus check results are √\n$/);
    expect(good.code).toBe(0);

    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(8086, `${PRE_NET}.251`, r));
    try {
      const r = await runMesh(['check', '--pre', '--state', preState], { env });
      expect(r.out).toContain(`× every address the demo listens on is free\n    ${PRE_NET}.251:8086 (for destination) is already in use\n    hint: is the demo already running (mesh pods)? Else see who holds it: ss -ltnp 'sport = :8086'`);
      expect(r.code).toBe(1);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('a Node.js older than 20.10', async () => {
    const [node] = preCategories(ROOT, join(tmp, 'pre-node'), '18.19.0')[0]!.checks;
    expect(await node!.run()).toEqual({ outcome: 'error', error: 'this is Node.js v18.19.0', hint: 'install Node.js 20 (20.10 or newer), e.g. with nvm: nvm install 20' });
    expect(await preCategories(ROOT, join(tmp, 'pre-node'), '20.10.0')[0]!.checks[0]!.run()).toEqual({ outcome: 'ok', detail: 'v20.10.0' });
  });

  it('a state folder that cannot be written', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'not a folder');
    const r = await runMesh(['check', '--pre', '--state', join(file, 'state')], { env: { MESH_DEMO_NET: PRE_NET } });
    expect(r.out).toContain(`× the state folder ${join(file, 'state')} is writable\n    ${join(file, 'state')}: ENOTDIR`);
    expect(r.code).toBe(1);
  });
});

function writeCa(dir: string, ca: CertificateAuthority): void {
  const id = join(dir, 'identity');
  rmSync(id, { recursive: true, force: true });
  mkdirSync(id, { recursive: true });
  writeFileSync(join(id, 'ca.crt'), ca.material.trustAnchorsPem);
  writeFileSync(join(id, 'issuer.crt'), ca.material.issuerChainPem);
  writeRun(dir, [], { trustAnchorsFile: join(id, 'ca.crt') });
}
