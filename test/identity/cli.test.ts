// The identity commands as an operator runs them: init, token, and serve as a real process a proxy's client talks to.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../identity/ca.ts';
import { Ed25519TokenValidator } from '../../identity/token.ts';
import { IdentityClient, tokenFromFile } from '../../proxy/identity/client.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const ROOT = new URL('../..', import.meta.url).pathname;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function mesh(args: string[]): ChildProcess & { output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, ['bin/mesh.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return Object.assign(child, { output: () => ({ stdout, stderr }) });
}

async function runMesh(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = mesh(args);
  // 'close', not 'exit': the output is complete only once the pipes have ended.
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, ...child.output() };
}

const dir = mkdtempSync(join(tmpdir(), 'mesh-identity-cli-'));

describe('mesh identity', () => {
  it('init writes the CA files and refuses to overwrite them', async () => {
    const first = await runMesh(['identity', 'init', '--dir', dir, '--issuer-lifetime', '720h']);
    expect(first.code).toBe(0);
    for (const f of ['ca.crt', 'issuer.crt', 'issuer.key', 'token-signing.key', 'token-signing.pub', 'identity.json']) expect(existsSync(join(dir, f))).toBe(true);
    const issuer = new X509Certificate(readFileSync(join(dir, 'issuer.crt')));
    expect(Date.parse(issuer.validTo) - Date.now()).toBeLessThanOrEqual(720 * 3_600_000);
    const again = await runMesh(['identity', 'init', '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/EXISTS: .*ca\.crt.* already exist; pass --force/);
    const typo = await runMesh(['identity', 'init', '--dir', join(dir, 'x'), '--anchor-lifetme', '1h']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown option "--anchor-lifetme"');
  });

  it('token prints a token the directory\'s key validates', async () => {
    const out = await runMesh(['identity', 'token', '--dir', dir, '--namespace', 'production', '--service-account', 'orders', '--ttl', '1h']);
    expect(out.code).toBe(0);
    const validator = new Ed25519TokenValidator(readFileSync(join(dir, 'token-signing.pub'), 'utf8'));
    await expect(validator.validate(out.stdout.trim())).resolves.toEqual({ namespace: 'production', serviceAccount: 'orders' });
    const bad = await runMesh(['identity', 'token', '--dir', dir, '--namespace', 'Prod!', '--service-account', 'orders']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('MALFORMED: namespace "Prod!" is not a Kubernetes name');
  });

  it('serve runs the CA; an IdentityClient with a token file gets a certificate from it', async () => {
    const token = await runMesh(['identity', 'token', '--dir', dir, '--namespace', 'production', '--service-account', 'orders']);
    const tokenFile = join(dir, 'orders.token');
    writeFileSync(tokenFile, token.stdout);
    const server = mesh(['identity', 'serve', '--dir', dir, '--addr', `${NET}.5:18081`, '--cert-lifetime', '1h']);
    const client = new IdentityClient({
      addr: `${NET}.5:18081`,
      trustAnchorsPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      identity: 'spiffe://cluster.local/ns/production/sa/orders',
      token: tokenFromFile(tokenFile),
      registry: new Registry(),
      logger: pino({ level: 'silent' }),
      retryMinMs: 100,
      retryMaxMs: 500,
    });
    try {
      await client.whenReady();
      const leaf = new X509Certificate(client.current().cert as string);
      const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
      expect(lifetime).toBeGreaterThanOrEqual(3_600_000);
      expect(lifetime).toBeLessThanOrEqual(3_600_000 + 21_000);
    } finally {
      client.close();
    }
    server.kill('SIGTERM');
    expect(await new Promise((resolve) => server.on('close', resolve))).toBe(0);
    const lines = server.output().stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'issued certificate')).toMatchObject({ identity: 'spiffe://cluster.local/ns/production/sa/orders', level: 'info' });
  });

  it('serve refuses to start with an expired issuer, saying which file and why', async () => {
    const expiredDir = mkdtempSync(join(tmpdir(), 'mesh-identity-expired-'));
    expect((await runMesh(['identity', 'init', '--dir', expiredDir])).code).toBe(0);
    const old = await CertificateAuthority.generate({ trustDomain: 'cluster.local', nowMs: Date.now() - 3 * 3_600_000, issuerLifetimeMs: 3_600_000 });
    writeFileSync(join(expiredDir, 'ca.crt'), old.material.trustAnchorsPem);
    writeFileSync(join(expiredDir, 'issuer.crt'), old.material.issuerChainPem);
    writeFileSync(join(expiredDir, 'issuer.key'), old.material.issuerKeyPem);
    const out = await runMesh(['identity', 'serve', '--dir', expiredDir, '--addr', `${NET}.5:0`]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`refusing to start: EXPIRED: ${expiredDir}/issuer.crt: .* expired at `));
  });
});
