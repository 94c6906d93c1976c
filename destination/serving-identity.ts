// Where the destination's own certificate comes from: the identity CA over Certify (like any
// proxy, with a token for linkerd/destination), the CA's directory (issued in-process), or files.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadIdentityDir } from '../identity/files.ts';
// The destination gets its serving certificate from the CA exactly as a proxy does: it reuses the proxy's identity client.
import { IdentityClient, tokenFromFile } from '../proxy/identity/client.ts';
import { CONTROL_PLANE_NAMESPACE, spiffeId } from '../api/spiffe.ts';
import { generateRsaKeyPair } from '../api/keypair.ts';
import type { ServerTls } from './grpc/server-credentials.ts';

export interface ServingIdentity {
  identity: string;
  tls: ServerTls;
  /** Called with new material after each renewal. */
  onRotate(listener: (tls: ServerTls) => void): void;
  close(): void;
}

export type IdentitySource =
  | { kind: 'ca'; identityAddr: string; trustAnchorsFile: string; tokenFile: string; identity?: string }
  | { kind: 'ca-dir'; dir: string; identity?: string }
  | { kind: 'files'; certFile: string; keyFile: string; trustAnchorsFile: string; identity?: string };

/** The identity the destination serves as: proxies check for it (DestinationClient's default). */
export const destinationIdentity = (trustDomain: string) => spiffeId(trustDomain, CONTROL_PLANE_NAMESPACE, 'destination');

const read = (path: string, what: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
};

export async function servingIdentity(source: IdentitySource, logger: Logger): Promise<ServingIdentity> {
  const listeners: Array<(tls: ServerTls) => void> = [];
  if (source.kind === 'files') {
    const tls = { cert: read(source.certFile, 'certificate'), key: read(source.keyFile, 'key'), ca: read(source.trustAnchorsFile, 'trust anchors') };
    return { identity: source.identity ?? '(from file)', tls, onRotate: () => undefined, close: () => undefined };
  }
  if (source.kind === 'ca') {
    const ca = read(source.trustAnchorsFile, 'trust anchors');
    const identity = source.identity ?? destinationIdentity('cluster.local');
    const client = new IdentityClient({ addr: source.identityAddr, trustAnchorsPem: ca, identity, token: tokenFromFile(source.tokenFile), logger });
    logger.info({ identityAddr: source.identityAddr, identity }, 'waiting for the destination\'s certificate from the identity CA');
    await client.whenReady();
    const material = (): ServerTls => ({ ...(client.current() as { key: string; cert: string }), ca });
    client.onRotate(() => listeners.forEach((l) => l(material())));
    return { identity, tls: material(), onRotate: (l) => listeners.push(l), close: () => client.close() };
  }
  // The CA's own directory: issue in-process and renew at 70% of the lifetime.
  const loaded = loadIdentityDir(source.dir);
  const identity = source.identity ?? destinationIdentity(loaded.trustDomain);
  const keys = await generateRsaKeyPair();
  const issue = (): { tls: ServerTls; lifetimeMs: number } => {
    const issued = loaded.ca.issue(keys.forgePublicKey as Parameters<typeof loaded.ca.issue>[0], { uri: identity, dnsNames: ['localhost'] });
    return {
      tls: { key: keys.privateKeyPem, cert: [issued.leafPem, ...issued.intermediatesPem].join(''), ca: loaded.ca.material.trustAnchorsPem },
      lifetimeMs: issued.notAfterMs - Date.now(),
    };
  };
  let current = issue();
  let timer: NodeJS.Timeout;
  const schedule = () => {
    timer = setTimeout(() => {
      current = issue();
      logger.info({ identity }, 'destination certificate renewed');
      listeners.forEach((l) => l(current.tls));
      schedule();
    }, Math.max(1_000, current.lifetimeMs * 0.7));
    timer.unref();
  };
  schedule();
  return { identity, tls: current.tls, onRotate: (l) => listeners.push(l), close: () => clearTimeout(timer) };
}
