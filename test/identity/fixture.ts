// Shared setup for the identity tests: a CA with a token key, served over real gRPC/TLS, and a raw Certify client.
import { generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { CertificateAuthority } from '../../identity/ca.ts';
import { startIdentityServer, type RunningIdentityServer } from '../../identity/server.ts';
import { Ed25519TokenValidator, mintToken } from '../../identity/token.ts';
import { caIdentityOf, type CertifyResponseMessage } from '../../api/identity-proto.ts';
import { identityService } from '../../api/identity-service.ts';

export interface CaFixture {
  ca: CertificateAuthority;
  tokenKeyPem: string;
  tokens: Ed25519TokenValidator;
  token(namespace: string, serviceAccount: string, options?: { ttlMs?: number; nowMs?: number; audience?: string }): string;
}

export async function caFixture(trustDomain = 'cluster.local'): Promise<CaFixture> {
  const ca = await CertificateAuthority.generate({ trustDomain });
  const pair = generateKeyPairSync('ed25519');
  const tokenKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const tokens = new Ed25519TokenValidator(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return { ca, tokenKeyPem, tokens, token: (ns, sa, o) => mintToken(tokenKeyPem, { namespace: ns, serviceAccount: sa }, o) };
}

/** Log lines of the server, kept so tests can check that refusals are logged. */
export function memoryLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

export async function serveCa(f: CaFixture, addr: string, certLifetimeMs = 24 * 3_600_000, logger?: pino.Logger): Promise<RunningIdentityServer> {
  return startIdentityServer({ ca: f.ca, tokens: f.tokens, trustDomain: 'cluster.local', certLifetimeMs, addr, logger: logger ?? pino({ level: 'silent' }) });
}

/** A raw gRPC client (no IdentityClient logic) to send hand-made, possibly hostile, requests. */
export function rawCertify(addr: string, anchorPem: string) {
  const { Client } = identityService();
  const client = new Client(addr, grpc.credentials.createSsl(Buffer.from(anchorPem)));
  const certify = (identity: string, token: string, csr: Buffer) =>
    new Promise<CertifyResponseMessage>((resolve, reject) =>
      (client as unknown as Record<string, Function>)['Certify']!.call(
        client,
        { identity, token: Buffer.from(token), certificateSigningRequest: csr },
        { deadline: Date.now() + 10_000 },
        (err: grpc.ServiceError | null, res: CertifyResponseMessage) => (err ? reject(err) : resolve(res)),
      ),
    );
  return { certify, close: () => client.close(), caIdentity: caIdentityOf('cluster.local') };
}
