// Identity in Kubernetes mode against a real kube-apiserver: projected service-account tokens
// proven by TokenReview (audience identity.l5d.io), refusals with their reason, and the issuer read
// from a kubernetes.io/tls Secret, rotated under traffic.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApi } from '../../api/kubernetes/kube-api.ts';
import { generateRsaKeyPair } from '../../api/keypair.ts';
import { IssuerSecret } from '../../identity/issuer-secret.ts';
import { startIdentityServer, type RunningIdentityServer } from '../../identity/server.ts';
import { TokenReviewValidator } from '../../identity/token-review.ts';
import { createCsrDer } from '../../proxy/identity/csr.ts';
import { KubeCluster } from '../helpers/kube-cluster.ts';
import { quietLogger } from '../destination/harness.ts';
import { rawCertify } from '../identity/fixture.ts';

const NS = 'production';
const WEB = `spiffe://cluster.local/ns/${NS}/sa/web`;
let cluster: KubeCluster;
let pkiDir: string;
let issuer: IssuerSecret;
let server: RunningIdentityServer;
let client: ReturnType<typeof rawCertify>;
/** The issuer watch's log lines: what it did with each version of the Secret. */
const issuerLog: string[] = [];

/** An anchor and two issuers under it, made with openssl as an operator (or cert-manager) would. */
function makePki(dir: string): void {
  const run = (cmd: string) => {
    const r = spawnSync('sh', ['-c', cmd], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  run('openssl req -x509 -newkey rsa:2048 -nodes -keyout anchor.key -out anchor.crt -days 30 -subj /CN=root.cluster.local -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null');
  for (const n of ['issuer1', 'issuer2']) {
    run(`openssl req -newkey rsa:2048 -nodes -keyout ${n}.key -out ${n}.csr -subj /CN=${n}.identity.cluster.local 2>/dev/null`);
    run(`openssl x509 -req -in ${n}.csr -CA anchor.crt -CAkey anchor.key -CAcreateserial -days 10 -out ${n}.crt -extfile ca.ext 2>/dev/null`);
  }
}

async function applyIssuer(n: string): Promise<void> {
  const b64 = (f: string) => readFileSync(join(pkiDir, f)).toString('base64');
  await cluster.apply(JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'mesh-identity-issuer', namespace: 'mesh-system' },
    data: { 'tls.crt': b64(`${n}.crt`), 'tls.key': b64(`${n}.key`), 'ca.crt': b64('anchor.crt') },
  }));
}

async function csrFor(identity: string): Promise<Buffer> {
  const keys = await generateRsaKeyPair();
  return createCsrDer(identity, keys.privateKey);
}

const token = async (sa: string, audience = 'identity.l5d.io') => (await cluster.kubectlOk(['-n', NS, 'create', 'token', sa, '--audience', audience])).trim();

/** The CN of the issuer of the certificate the CA serves with, on a fresh connection. */
function servingIssuer(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: server.port, ca: readFileSync(join(pkiDir, 'anchor.crt')), ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, () => {
      resolve(String(socket.getPeerCertificate().issuer?.CN ?? ''));
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

/** What a refused Certify says: `CODE: reason`. */
async function refusal(identity: string, tok: string): Promise<string> {
  return client.certify(identity, tok, await csrFor(identity)).then(
    () => 'issued',
    (err: grpc.ServiceError) => err.details,
  );
}

beforeAll(async () => {
  cluster = await KubeCluster.start();
  await cluster.kubectlOk(['create', 'namespace', NS]);
  await cluster.kubectlOk(['create', 'namespace', 'mesh-system']);
  await cluster.kubectlOk(['-n', NS, 'create', 'serviceaccount', 'web']);
  await cluster.kubectlOk(['-n', NS, 'create', 'serviceaccount', 'other']);
  pkiDir = mkdtempSync(join(tmpdir(), 'mesh-k8s-identity-'));
  makePki(pkiDir);
  await applyIssuer('issuer1');
  const api = KubeApi.load(await cluster.hostKubeconfig());
  issuer = await IssuerSecret.load(api, 'mesh-system/mesh-identity-issuer', pino({ level: 'info' }, { write: (line: string) => void issuerLog.push(line) }));
  server = await startIdentityServer({ ca: issuer, tokens: new TokenReviewValidator(api), trustDomain: 'cluster.local', certLifetimeMs: 3_600_000, addr: '127.0.0.1:0', logger: quietLogger() });
  client = rawCertify(server.addr, readFileSync(join(pkiDir, 'anchor.crt'), 'utf8'));
});

afterAll(async () => {
  client?.close();
  await server?.close();
  issuer?.stop();
  await cluster?.stop();
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
});

describe('identity --kubernetes', () => {
  it('issues the certificate for exactly the token\'s namespace and service account', async () => {
    expect(await servingIssuer()).toContain('issuer1');
    const res = await client.certify(WEB, await token('web'), await csrFor(WEB));
    const leaf = new X509Certificate(res.leafCertificate);
    expect(leaf.subjectAltName).toBe(`URI:${WEB}`);
    expect(leaf.issuer).toContain('issuer1.identity.cluster.local');
  });

  it('refuses another account\'s token, naming both identities', async () => {
    expect(await refusal(WEB, await token('other'))).toMatch(/^IDENTITY_MISMATCH: requested identity "spiffe:\/\/cluster.local\/ns\/production\/sa\/web" but the token proves "spiffe:\/\/cluster.local\/ns\/production\/sa\/other"/);
  });

  it('refuses a token for another audience', async () => {
    expect(await refusal(WEB, await token('web', 'vault'))).toMatch(/^TOKEN_WRONG_AUDIENCE: .*"vault".*expected "identity.l5d.io"/);
  });

  it('refuses an expired token (signed by the cluster\'s own service-account key)', async () => {
    // TokenRequest will not mint a token shorter than 10 minutes: sign one as the apiserver does, already expired.
    const uid = (await cluster.kubectlOk(['-n', NS, 'get', 'serviceaccount', 'web', '-o', 'jsonpath={.metadata.uid}'])).trim();
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = {
      aud: ['identity.l5d.io'], exp: now - 600, iat: now - 1200, nbf: now - 1200,
      iss: 'https://kubernetes.default.svc.cluster.local', sub: `system:serviceaccount:${NS}:web`,
      'kubernetes.io': { namespace: NS, serviceaccount: { name: 'web', uid } },
    };
    const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
    const signature = sign('sha256', Buffer.from(input), createPrivateKey(readFileSync(join(cluster.runDir, 'pki', 'sa.key')))).toString('base64url');
    expect(await refusal(WEB, `${input}.${signature}`)).toMatch(/^TOKEN_EXPIRED: .*token expired at /);
  });

  it('refuses garbage as a token the API server does not know', async () => {
    expect(await refusal(WEB, 'not-a-token')).toMatch(/^TOKEN_MALFORMED: /);
  });

  it('takes a rotated issuer from the Secret under traffic, with no Certify failing', async () => {
    const tok = await token('web');
    const csr = await csrFor(WEB);
    const issuers = new Set<string>();
    let failures = 0;
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; i < 2_000 && !stop; i++) {
        try {
          const res = await client.certify(WEB, tok, csr);
          issuers.add(new X509Certificate(res.leafCertificate).issuer);
        } catch {
          failures++;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 1_000));
    const t0 = Date.now();
    await applyIssuer('issuer2');
    while (![...issuers].some((i) => i.includes('issuer2')) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    const rotatedMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await traffic;
    console.log(`issuer rotation: the first certificate from the new issuer ${rotatedMs} ms after kubectl apply`);
    expect([...issuers].some((i) => i.includes('issuer1'))).toBe(true);
    expect([...issuers].some((i) => i.includes('issuer2'))).toBe(true);
    expect(failures).toBe(0);
    // The CA's own serving certificate follows the issuer: it must not die with the old one.
    expect(await servingIssuer()).toContain('issuer2');
    // A broken Secret is refused; the issuer in force stays. Waited for by the watch's own word
    // that it refused it: a fixed wait could look before the watch had seen the change at all.
    const refusals = () => issuerLog.filter((l) => l.includes('issuer Secret refused')).length;
    const before = refusals();
    await cluster.kubectlOk(['-n', 'mesh-system', 'patch', 'secret', 'mesh-identity-issuer', '--type=merge', '-p', JSON.stringify({ data: { 'tls.key': Buffer.from('not a key').toString('base64') } })]);
    for (const deadline = Date.now() + 30_000; refusals() === before && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(refusals(), 'the issuer watch never refused the broken Secret').toBeGreaterThan(before);
    const res = await client.certify(WEB, tok, await csrFor(WEB));
    expect(new X509Certificate(res.leafCertificate).issuer).toContain('issuer2');
  });
});
