// The CA refuses to start on bad key material, naming the file and the problem; and it adopts a chain made elsewhere.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, type CaMaterial } from '../../identity/ca.ts';
import { IdentityError } from '../../identity/errors.ts';
import { initIdentityDir, loadIdentityDir } from '../../identity/files.ts';
import { generateRsaKeyPair } from '../../api/keypair.ts';

const HOUR = 3_600_000;
let good: CaMaterial;
let other: CaMaterial;

beforeAll(async () => {
  [good, other] = await Promise.all([CertificateAuthority.generate({ trustDomain: 'cluster.local' }), CertificateAuthority.generate({ trustDomain: 'cluster.local' })]).then((cas) => cas.map((ca) => ca.material));
});

function refusal(material: CaMaterial): IdentityError {
  try {
    CertificateAuthority.fromPem(material);
  } catch (err) {
    if (err instanceof IdentityError) return err;
    throw err;
  }
  throw new Error('expected the CA to refuse this material');
}

describe('loading the CA', () => {
  it('accepts a matching pair', () => {
    expect(() => CertificateAuthority.fromPem(good)).not.toThrow();
  });

  it('refuses an expired issuer, saying when it expired', async () => {
    const old = await CertificateAuthority.generate({ trustDomain: 'cluster.local', nowMs: Date.now() - 3 * HOUR, issuerLifetimeMs: HOUR });
    const err = refusal(old.material);
    expect(err.code).toBe('EXPIRED');
    expect(err.message).toMatch(/^issuer\.crt: .*identity\.cluster\.local.* expired at \d{4}-/);
  });

  it('refuses an expired trust anchor', async () => {
    const old = await CertificateAuthority.generate({ trustDomain: 'cluster.local', nowMs: Date.now() - 3 * HOUR, anchorLifetimeMs: HOUR });
    const err = refusal(old.material);
    expect(err.code).toBe('EXPIRED');
    expect(err.message).toMatch(/^ca\.crt: .*root\.cluster\.local.* expired at/);
  });

  it('refuses an issuer not signed by the anchor', () => {
    const err = refusal({ ...good, trustAnchorsPem: other.trustAnchorsPem });
    expect(err.code).toBe('MISMATCH');
    expect(err.message).toMatch(/^issuer\.crt: .* is not signed by any trust anchor in ca\.crt/);
  });

  it('refuses a key that does not match the issuer certificate', () => {
    const err = refusal({ ...good, issuerKeyPem: other.issuerKeyPem });
    expect(err.code).toBe('MISMATCH');
    expect(err.message).toMatch(/^issuer\.key: the key does not match the issuer certificate/);
  });

  it('refuses a workload (non-CA) certificate as issuer', async () => {
    const ca = CertificateAuthority.fromPem(good);
    const keys = await generateRsaKeyPair();
    const leaf = ca.issue(keys.forgePublicKey, { uri: 'spiffe://cluster.local/ns/a/sa/b' });
    const err = refusal({ ...good, issuerChainPem: leaf.leafPem + good.issuerChainPem, issuerKeyPem: keys.privateKeyPem });
    expect(err.code).toBe('MISMATCH');
    expect(err.message).toMatch(/is not a CA certificate, so it cannot issue/);
  });

  it('refuses text that is not PEM, and a non-RSA key', () => {
    const notPem = refusal({ ...good, issuerChainPem: 'hello' });
    expect(notPem.code).toBe('MALFORMED');
    expect(notPem.message).toMatch(/^issuer\.crt: no PEM certificate found/);
    const corrupt = refusal({ ...good, trustAnchorsPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' });
    expect(corrupt.code).toBe('MALFORMED');
    expect(corrupt.message).toMatch(/^ca\.crt: certificate #1 cannot be parsed/);
    const ec = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], { encoding: 'utf8' });
    const err = refusal({ ...good, issuerKeyPem: ec });
    expect(err.code).toBe('MALFORMED');
    expect(err.message).toMatch(/^issuer\.key: a ec key; the CA signs with RSA only/);
  });

  it('refuses an unreadable directory file, naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-ca-'));
    expect(() => loadIdentityDir(dir)).toThrow(`settings ${dir}/identity.json: ENOENT`);
    await initIdentityDir(dir, { trustDomain: 'cluster.local' });
    rmSync(join(dir, 'issuer.crt'));
    expect(() => loadIdentityDir(dir)).toThrow(expect.objectContaining({ code: 'UNREADABLE', message: `issuer certificate ${dir}/issuer.crt: ENOENT` }));
    await initIdentityDir(dir, { trustDomain: 'cluster.local', force: true });
    writeFileSync(join(dir, 'issuer.key'), 'not a key');
    expect(() => loadIdentityDir(dir)).toThrow(`${dir}/issuer.key: not a PEM private key`);
    for (const damaged of ['null', '"cluster.local"', '{"trustDomain": 7}']) {
      writeFileSync(join(dir, 'identity.json'), damaged);
      expect(() => loadIdentityDir(dir), damaged).toThrow(expect.objectContaining({ code: 'MALFORMED', message: expect.stringMatching(/identity\.json: "trustDomain" must be a DNS-like name, got (undefined|7)$/) }));
    }
  });

  it('init refuses to overwrite an existing CA unless forced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-ca-'));
    await initIdentityDir(dir, { trustDomain: 'cluster.local' });
    const anchor = loadIdentityDir(dir).ca.material.trustAnchorsPem;
    await expect(initIdentityDir(dir, { trustDomain: 'cluster.local' })).rejects.toMatchObject({ code: 'EXISTS' });
    await initIdentityDir(dir, { trustDomain: 'cluster.local', force: true });
    expect(loadIdentityDir(dir).ca.material.trustAnchorsPem).not.toBe(anchor);
  });
});

describe('a chain the user brings (made with the openssl CLI, as cert-manager would)', () => {
  it('is validated, adopted, and issues certificates that verify to the brought root', async () => {
    const src = mkdtempSync(join(tmpdir(), 'mesh-brought-'));
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: src, stdio: 'pipe' });
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/CN=root.example', '-days', '365',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=issuer.example');
    writeFileSync(join(src, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    ossl('x509', '-req', '-in', 'tls.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '30', '-extfile', 'ext.cnf');

    const dir = join(src, 'ca');
    await initIdentityDir(dir, {
      trustDomain: 'cluster.local',
      brought: { trustAnchor: join(src, 'root.crt'), issuerCert: join(src, 'tls.crt'), issuerKey: join(src, 'tls.key') },
    });
    const { ca } = loadIdentityDir(dir);
    const keys = await generateRsaKeyPair();
    const leaf = ca.issue(keys.forgePublicKey, { uri: 'spiffe://cluster.local/ns/production/sa/orders' });
    writeFileSync(join(src, 'leaf.crt'), leaf.leafPem);
    expect(ossl('verify', '-CAfile', 'root.crt', '-untrusted', 'tls.crt', 'leaf.crt').toString().trim()).toBe('leaf.crt: OK');
    // Clamped to the brought issuer's 30 days? No: 24 h is shorter. Issuer name carried over.
    expect(new X509Certificate(leaf.leafPem).issuer).toBe('CN=issuer.example');

    // The same files with the key of the root instead: refused, naming the brought file.
    await expect(
      initIdentityDir(join(src, 'ca2'), { trustDomain: 'cluster.local', brought: { trustAnchor: join(src, 'root.crt'), issuerCert: join(src, 'tls.crt'), issuerKey: join(src, 'root.key') } }),
    ).rejects.toThrow(`${join(src, 'root.key')}: the key does not match the issuer certificate`);
  });
});
