// The commands as a learner runs them: `mesh destination serve` as a process with its certificate
// from the CA's directory, and `mesh endpoints|profile|policy` printing what it streams.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initIdentityDir, loadIdentityDir } from '../../identity/files.ts';
import { DestinationClient } from '../../proxy/discovery/destination-client.ts';
import { generateRsaKeyPair } from '../../api/keypair.ts';
import { StaticCredentials } from '../../proxy/identity/static-credentials.ts';
import { addresses, FIXTURES, pod, quietLogger, until } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
/** NET inside a regular expression. */
const NET_RE = NET.replaceAll('.', '\\.');

const ROOT = join(import.meta.dirname, '../..');
const ADDR = `${NET}.6:8086`;
let tmp: string;
let server: ChildProcess;
const clients: DestinationClient[] = [];

function mesh(args: string[]): ChildProcess {
  return spawn(process.execPath, ['bin/mesh.js', ...args], { cwd: ROOT, env: { ...process.env, MESH_LOG_LEVEL: 'warn' } });
}

function output(child: ChildProcess): { text: () => string; waitFor: (re: RegExp, ms?: number) => Promise<string>; exit: Promise<number> } {
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  const waitFor = (re: RegExp, ms = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} in output within ${ms} ms:\n${text}`)), ms);
      const check = () => {
        if (!re.test(text)) return;
        clearTimeout(timer);
        resolve(text);
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      check();
    });
  return { text: () => text, waitFor, exit };
}

async function credentialsFor(ns: string, sa: string): Promise<StaticCredentials> {
  const { ca, trustDomain } = loadIdentityDir(join(tmp, 'identity'));
  const keys = await generateRsaKeyPair();
  const id = `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`;
  const issued = ca.issue(keys.forgePublicKey as Parameters<typeof ca.issue>[0], { uri: id });
  return new StaticCredentials(id, ca.material.trustAnchorsPem, { keyPem: keys.privateKeyPem, certChainPem: [issued.leafPem, ...issued.intermediatesPem].join('') });
}

async function register(name: string, ip: string, labels: Record<string, string>): Promise<DestinationClient> {
  const c = new DestinationClient({ addr: ADDR, credentials: await credentialsFor('production', 'orders'), pod: pod(name, ip, labels), logger: quietLogger() });
  clients.push(c);
  await until(c.registration, (r) => r.accepted, 10_000, 'registration');
  return c;
}

const conn = () => ['--addr', ADDR, '--trust-anchors', join(tmp, 'identity', 'ca.crt')];

async function startServer(graceMs: number): Promise<void> {
  server = mesh(['destination', 'serve', '--resources', join(tmp, 'resources'), '--addr', ADDR, '--ca-dir', join(tmp, 'identity'), '--registration-grace', String(graceMs)]);
  await output(server).waitFor(new RegExp(String.raw`destination serving on ${NET_RE}\.6:8086 as spiffe:\/\/cluster\.local\/ns\/mesh-system\/sa\/destination`));
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mesh-destination-cli-'));
  await initIdentityDir(join(tmp, 'identity'), { trustDomain: 'cluster.local' });
  cpSync(join(FIXTURES, 'lesson'), join(tmp, 'resources'), { recursive: true });
  await startServer(0);
});

afterAll(async () => {
  for (const c of clients) c.close();
  server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('mesh endpoints / profile / policy', () => {
  it('prints endpoints, follows changes with -w', async () => {
    await register('stable-1', `${NET}.61`, { app: 'orders', track: 'stable' });
    const once = output(mesh(['endpoints', 'orders-stable.production:8080', ...conn()]));
    expect(await once.exit).toBe(0);
    expect(once.text()).toMatch(new RegExp(String.raw`orders-stable\.production:8080: 1 endpoint\(s\)\nADDRESS\s+WEIGHT\s+IDENTITY\s+INBOUND\s+POD\n${NET_RE}\.61:8080\s+1\s+spiffe:\/\/cluster\.local\/ns\/production\/sa\/orders\s+4143\s+stable-1`));

    const follow = mesh(['endpoints', 'orders-canary:8080', '-n', 'production', '-w', ...conn()]);
    const watched = output(follow);
    await watched.waitFor(/orders-canary:8080: no endpoints/);
    const canary = await register('canary-1', `${NET}.62`, { app: 'orders', track: 'canary' });
    await watched.waitFor(new RegExp(String.raw`added:\n.*\n${NET_RE}\.62:8080`));
    canary.close();
    await watched.waitFor(/orders-canary:8080: no endpoints[\s\S]*added[\s\S]*\] orders-canary:8080: no endpoints/);
    follow.kill('SIGINT');
    expect(await watched.exit).toBe(0);
  });

  it('prints the profile and the policy', async () => {
    const profile = output(mesh(['profile', 'orders:8080', '--namespace', 'production', ...conn()]));
    expect(await profile.exit).toBe(0);
    expect(profile.text()).toContain('fqdn: orders.production.svc.cluster.local');
    expect(profile.text()).toMatch(/authority: orders-stable\.production\.svc\.cluster\.local:8080\n\s+weight: 90/);

    await register('orders-1', `${NET}.63`, { app: 'orders' });
    const policy = output(mesh(['policy', 'production/orders-1', '9090', ...conn()]));
    expect(await policy.exit).toBe(0);
    expect(policy.text()).toContain('name: production/orders-grpc');
    expect(policy.text()).toContain('- spiffe://cluster.local/ns/production/sa/checkout');

    const bad = output(mesh(['endpoints', 'no such:80', ...conn()]));
    expect(await bad.exit).toBe(1);
    expect(bad.text()).toContain('authority "no such:80": must be host[:port]');
  });
});

describe('the destination process killed (SIGKILL) under a client', () => {
  it('keeps the last endpoints, then reconnects, re-registers and follows new changes', async () => {
    const stable = await register('stable-k', `${NET}.64`, { app: 'orders', track: 'stable' });
    const checkout = new DestinationClient({
      addr: ADDR,
      credentials: await credentialsFor('production', 'checkout'),
      namespace: 'production',
      backoff: { minMs: 100, maxMs: 500 },
      logger: quietLogger(),
    });
    clients.push(checkout);
    const cell = checkout.endpoints('orders-stable:8080');
    await until(cell, (s) => addresses(s).includes(`${NET}.64:8080`), 10_000, 'endpoint before the kill');
    const before = addresses(cell.get());
    const accepted: string[] = [];
    stable.registration.subscribe((r) => accepted.push(r.message));
    // A `mesh endpoints -w` following along is told the destination went away, and exits 1.
    const follower = output(mesh(['endpoints', 'orders-stable.production:8080', '-w', ...conn()]));
    await follower.waitFor(new RegExp(String.raw`${NET_RE}\.64:8080`));
    server.kill('SIGKILL');
    expect(await follower.exit).toBe(1);
    expect(follower.text()).toMatch(/\ndestination: .+\n$/);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(addresses(cell.get())).toEqual(before);

    await startServer(3_000);
    await until(cell, (s) => addresses(s).includes(`${NET}.64:8080`), 15_000, 'endpoint after the restart');
    const joined = await register('stable-k2', `${NET}.65`, { app: 'orders', track: 'stable' });
    await until(cell, (s) => addresses(s).includes(`${NET}.65:8080`), 10_000, 'new replica after the restart');
    await until(stable.registration, () => accepted.length > 0, 10_000, 're-registration');
    expect(accepted[0]).toBe('registered production/stable-k as spiffe://cluster.local/ns/production/sa/orders');
    await until(cell, (s) => addresses(s).includes(`${NET}.64:8080`) && addresses(s).includes(`${NET}.65:8080`), 10_000, 'both replicas');
    joined.close();
  });
});

describe('mesh destination serve flags', () => {
  it('refuses a cluster network that is not a CIDR, naming which one, before serving', async () => {
    const bad = mesh(['destination', 'serve', '--resources', join(tmp, 'resources'), '--addr', `${NET}.7:0`, '--ca-dir', join(tmp, 'identity'), '--cluster-networks', '10.0.0.0/8, 10.0.0.0/33']);
    const out = output(bad);
    expect(await out.exit).toBe(2);
    expect(out.text()).toMatch(/^mesh destination serve: --cluster-networks\[1\]: must be a CIDR such as "10\.0\.0\.0\/8", got "10\.0\.0\.0\/33"\n/);
    expect(out.text()).not.toMatch(/destination serving/);
  });
});
