// The identity figures of the mtls mode: a CA in its own process, its issuance rate (Certify
// calls per second from concurrent callers), and the cost of a full mTLS handshake.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { readTokenSigningKey } from '../identity/files.ts';
import { mintToken } from '../identity/token.ts';
import { spiffeId, spiffeIdOfPeer } from '../api/spiffe.ts';
import { createCsrDer } from '../proxy/identity/csr.ts';
import { caIdentityOf, type CertifyRequestMessage, type CertifyResponseMessage } from '../api/identity-proto.ts';
import { identityService } from '../api/identity-service.ts';
import { generateRsaKeyPair } from '../api/keypair.ts';
import { chainPemFromResponse } from '../proxy/identity/renewal.ts';
import { BenchProcess, meshProcess } from './processes.ts';

export const TRUST_DOMAIN = 'cluster.local';

export interface RunningCa {
  dir: string;
  addr: string;
  trustAnchorsPem: string;
  process: BenchProcess;
  /** A service-account token, as `mesh identity token` mints it. */
  tokenFor(namespace: string, serviceAccount: string): string;
}

/** `mesh identity init` then `mesh identity serve`, each a real process, as an operator runs them. */
export async function startCa(logDir: string, addr: string): Promise<RunningCa> {
  const dir = join(logDir, 'identity');
  const init = meshProcess('identity-init', ['identity', 'init', '--dir', dir, '--trust-domain', TRUST_DOMAIN], logDir);
  const code = await new Promise<number | null>((resolve) => init.proc.once('close', resolve));
  if (code !== 0) throw new Error(`mesh identity init failed (exit ${code}):\n${init.tail()}`);
  const serve = meshProcess('identity', ['identity', 'serve', '--dir', dir, '--addr', addr], logDir);
  const trustAnchorsPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const signingKey = readTokenSigningKey(dir);
  const ca: RunningCa = {
    dir,
    addr,
    trustAnchorsPem,
    process: serve,
    tokenFor: (namespace, serviceAccount) => mintToken(signingKey, { namespace, serviceAccount }),
  };
  await waitForCa(ca);
  return ca;
}

function caClient(ca: RunningCa): grpc.Client {
  const caIdentity = caIdentityOf(TRUST_DOMAIN);
  const creds = grpc.credentials.createSsl(Buffer.from(ca.trustAnchorsPem), null, null, {
    checkServerIdentity: (_host, cert) =>
      spiffeIdOfPeer(cert.subjectaltname) === caIdentity ? undefined : new Error(`the CA at ${ca.addr} is not ${caIdentity}`),
  });
  const { Client } = identityService();
  return new Client(ca.addr, creds, { 'grpc.ssl_target_name_override': 'localhost' });
}

function certify(client: grpc.Client, request: CertifyRequestMessage): Promise<CertifyResponseMessage> {
  const call = (client as unknown as Record<string, Function>)['Certify']!.bind(client);
  return new Promise((resolve, reject) =>
    call(request, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: CertifyResponseMessage) => (err ? reject(err) : resolve(res))),
  );
}

async function waitForCa(ca: RunningCa): Promise<void> {
  const deadline = Date.now() + 30_000;
  const client = caClient(ca);
  try {
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(deadline, (err) => (err ? reject(new Error(`the CA at ${ca.addr} did not come up: ${err.message}\n${ca.process.tail()}`)) : resolve())),
    );
  } finally {
    client.close();
  }
}

export interface IssuedMaterial {
  identity: string;
  keyPem: string;
  certChainPem: string;
}

/** One workload's key, CSR and certificate, the way a proxy gets them. */
export async function issue(ca: RunningCa, namespace: string, serviceAccount: string): Promise<IssuedMaterial> {
  const identity = spiffeId(TRUST_DOMAIN, namespace, serviceAccount);
  const keys = await generateRsaKeyPair();
  const client = caClient(ca);
  try {
    const res = await certify(client, {
      identity,
      token: Buffer.from(ca.tokenFor(namespace, serviceAccount)),
      certificateSigningRequest: createCsrDer(identity, keys.privateKey),
    });
    return { identity, keyPem: keys.privateKeyPem, certChainPem: chainPemFromResponse(res, identity, keys.privateKey) };
  } finally {
    client.close();
  }
}

export interface IssuanceRate {
  certificates: number;
  perSecond: number;
  concurrency: number;
  failures: number;
}

/** Certify calls answered per second with `concurrency` callers for `seconds` (one CSR re-sent, as renewals do). */
export async function issuanceRate(ca: RunningCa, seconds: number, concurrency: number): Promise<IssuanceRate> {
  const identity = spiffeId(TRUST_DOMAIN, 'bench', 'issuer-load');
  const keys = await generateRsaKeyPair();
  const request: CertifyRequestMessage = {
    identity,
    token: Buffer.from(ca.tokenFor('bench', 'issuer-load')),
    certificateSigningRequest: createCsrDer(identity, keys.privateKey),
  };
  const client = caClient(ca);
  let certificates = 0;
  let failures = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await certify(client, request).then(
            () => certificates++,
            () => failures++,
          );
        }
      }),
    );
  } finally {
    client.close();
  }
  return { certificates, perSecond: certificates / ((performance.now() - started) / 1000), concurrency, failures };
}

export interface HandshakeCost {
  handshakes: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of this process (client and server side together) per handshake. */
  cpuMsPerHandshake: number;
}

/**
 * Sequential full TLS 1.3 handshakes with client certificates (no session resumption), both ends
 * in this process with the CA's certificates: what a new proxy-to-proxy connection costs.
 */
export async function handshakeCost(server: IssuedMaterial, client: IssuedMaterial, anchorsPem: string, host: string, seconds: number): Promise<HandshakeCost> {
  const tlsServer = createTlsServer({
    key: server.keyPem,
    cert: server.certChainPem,
    ca: anchorsPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['h2', 'http/1.1'],
  });
  tlsServer.on('secureConnection', (s: TLSSocket) => s.end());
  tlsServer.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => tlsServer.listen(0, host, resolve));
  const port = (tlsServer.address() as { port: number }).port;
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  try {
    while (performance.now() < end) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const socket = tlsConnect({
          host,
          port,
          key: client.keyPem,
          cert: client.certChainPem,
          ca: anchorsPem,
          minVersion: 'TLSv1.3',
          ALPNProtocols: ['h2'],
          checkServerIdentity: (_h, cert) => (spiffeIdOfPeer(cert.subjectaltname) === server.identity ? undefined : new Error('wrong server identity')),
        });
        socket.once('secureConnect', () => {
          times.push(performance.now() - t0);
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
    }
  } finally {
    tlsServer.close();
  }
  const cpu = process.cpuUsage(cpu0);
  const sorted = times.sort((a, b) => a - b);
  return {
    handshakes: sorted.length,
    meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    p50Ms: sorted[Math.floor(sorted.length * 0.5)]!,
    p99Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!,
    cpuMsPerHandshake: (cpu.user + cpu.system) / 1000 / sorted.length,
  };
}
