// Benchmarks identity: the CA's issuance rate (in-process signing, and Certify over gRPC/TLS) and the
// cost of one full TLS 1.3 mutual handshake with mesh certificates. `node bin/run.js bench/identity.ts`.
import { generateKeyPairSync } from 'node:crypto';
import { connect, createServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { CertificateAuthority } from '../identity/ca.ts';
import { startIdentityServer } from '../identity/server.ts';
import { Ed25519TokenValidator, mintToken } from '../identity/token.ts';
import { createCsrDer } from '../proxy/identity/csr.ts';
import { identityService } from '../api/identity-service.ts';
import { generateRsaKeyPair } from '../api/keypair.ts';
import { StaticCredentials } from '../proxy/identity/static-credentials.ts';

export interface IdentityBenchOptions {
  /** How long each issuance measurement runs (ms). */
  issueMs?: number;
  /** Concurrent Certify calls in flight. */
  concurrency?: number;
  /** Number of handshakes; the median is reported. */
  handshakes?: number;
  /** Loopback address for the servers (the bench's own). */
  host?: string;
}

export interface IdentityBenchResult {
  signPerSec: number;
  certifyPerSec: number;
  handshakeMedianMs: number;
  handshakeP90Ms: number;
  handshakes: number;
}

const ORDERS = 'spiffe://cluster.local/ns/production/sa/orders';

async function certifyRate(ca: CertificateAuthority, host: string, ms: number, concurrency: number): Promise<number> {
  const pair = generateKeyPairSync('ed25519');
  const tokens = new Ed25519TokenValidator(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const token = Buffer.from(mintToken(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { namespace: 'production', serviceAccount: 'orders' }));
  const server = await startIdentityServer({ ca, tokens, trustDomain: 'cluster.local', certLifetimeMs: 86_400_000, addr: `${host}:0`, logger: pino({ level: 'silent' }) });
  const keys = await generateRsaKeyPair();
  const csr = createCsrDer(ORDERS, keys.privateKey);
  const { Client } = identityService();
  const client = new Client(server.addr, grpc.credentials.createSsl(Buffer.from(ca.material.trustAnchorsPem)), { 'grpc.ssl_target_name_override': 'localhost' });
  const certify = () =>
    new Promise<void>((resolve, reject) =>
      (client as unknown as Record<string, Function>)['Certify']!.call(client, { identity: ORDERS, token, certificateSigningRequest: csr }, (err: Error | null) => (err ? reject(err) : resolve())),
    );
  await certify(); // connect and warm up before the clock starts
  let done = 0;
  const end = Date.now() + ms;
  const start = Date.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      await certify();
      done++;
    }
  }));
  const rate = done / ((Date.now() - start) / 1000);
  client.close();
  await server.close();
  return rate;
}

function signRate(ca: CertificateAuthority, publicKeyPem: string, ms: number): number {
  let done = 0;
  const start = Date.now();
  while (Date.now() - start < ms) {
    ca.issue(publicKeyPem, { uri: ORDERS });
    done++;
  }
  return done / ((Date.now() - start) / 1000);
}

/** Full handshakes (no session resumption), mutual TLS 1.3, each on a fresh TCP connection. */
async function handshakeTimes(server: StaticCredentials, client: StaticCredentials, host: string, count: number): Promise<number[]> {
  const srv = createServer({ ...server.current(), ca: server.trustAnchorsPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (s) => s.end());
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  const { port } = srv.address() as { port: number };
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const sock = connect({ host, port, ...client.current(), ca: client.trustAnchorsPem, checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' }, () => {
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        sock.destroy();
        resolve();
      });
      sock.on('error', reject);
    });
  }
  srv.close();
  return times.sort((a, b) => a - b);
}

export async function runIdentityBench(options: IdentityBenchOptions = {}): Promise<IdentityBenchResult> {
  const host = options.host ?? '127.0.24.200';
  const ca = await CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const [a, b] = await Promise.all([generateRsaKeyPair(), generateRsaKeyPair()]);
  const signPerSec = signRate(ca, a.publicKeyPem, options.issueMs ?? 2_000);
  const certifyPerSec = await certifyRate(ca, host, options.issueMs ?? 2_000, options.concurrency ?? 8);
  const credsFor = (keys: typeof a, id: string) => {
    const issued = ca.issue(keys.publicKeyPem, { uri: id });
    return new StaticCredentials(id, ca.material.trustAnchorsPem, { keyPem: keys.privateKeyPem, certChainPem: [issued.leafPem, ...issued.intermediatesPem].join('') });
  };
  const times = await handshakeTimes(credsFor(a, ORDERS), credsFor(b, 'spiffe://cluster.local/ns/production/sa/checkout'), host, options.handshakes ?? 200);
  const result: IdentityBenchResult = {
    signPerSec: Math.round(signPerSec),
    certifyPerSec: Math.round(certifyPerSec),
    handshakeMedianMs: Number(times[Math.floor(times.length / 2)]!.toFixed(3)),
    handshakeP90Ms: Number(times[Math.floor(times.length * 0.9)]!.toFixed(3)),
    handshakes: times.length,
  };
  console.table({
    'CA signing, in process (certs/s)': result.signPerSec,
    'Certify over gRPC/TLS (certs/s)': result.certifyPerSec,
    [`mTLS 1.3 full handshake, median of ${result.handshakes} (ms)`]: result.handshakeMedianMs,
    'mTLS 1.3 full handshake, p90 (ms)': result.handshakeP90Ms,
  });
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runIdentityBench();
}
