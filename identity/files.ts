// The CA's directory: which files `mesh identity init` writes and `mesh identity serve` reads.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority, type CaMaterial } from './ca.ts';
import { IdentityError } from './errors.ts';
import { Ed25519TokenValidator } from './token.ts';

export const FILES = {
  trustAnchors: 'ca.crt',
  issuerCert: 'issuer.crt',
  issuerKey: 'issuer.key',
  tokenKey: 'token-signing.key',
  tokenPub: 'token-signing.pub',
  settings: 'identity.json',
} as const;

interface Settings {
  trustDomain: string;
}

export interface BroughtChain {
  trustAnchor: string;
  issuerCert: string;
  issuerKey: string;
}

export interface InitOptions {
  trustDomain: string;
  anchorLifetimeMs?: number;
  issuerLifetimeMs?: number;
  force?: boolean;
  /** Paths of a user-brought chain (e.g. cert-manager's ca.crt, tls.crt, tls.key) instead of generating one. */
  brought?: BroughtChain;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new IdentityError('UNREADABLE', `${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Writes the CA's files; returns the paths written. Refuses to overwrite an existing CA unless `force`. */
export async function initIdentityDir(dir: string, options: InitOptions): Promise<string[]> {
  const paths = Object.values(FILES).map((name) => join(dir, name));
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0 && !options.force) {
    throw new IdentityError('EXISTS', `${existing.join(', ')} already exist; pass --force to replace the CA (every proxy will need the new trust anchor)`);
  }
  let ca: CertificateAuthority;
  if (options.brought) {
    const b = options.brought;
    const material: CaMaterial = {
      trustAnchorsPem: readText(b.trustAnchor, 'trust anchor'),
      issuerChainPem: readText(b.issuerCert, 'issuer certificate'),
      issuerKeyPem: readText(b.issuerKey, 'issuer key'),
    };
    ca = CertificateAuthority.fromPem(material, { trustAnchors: b.trustAnchor, issuerCert: b.issuerCert, issuerKey: b.issuerKey });
  } else {
    ca = await CertificateAuthority.generate(options);
  }
  const token = generateKeyPairSync('ed25519');
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string, secret = false) => writeFileSync(join(dir, name), text, { mode: secret ? 0o600 : 0o644 });
  write(FILES.trustAnchors, ca.material.trustAnchorsPem);
  write(FILES.issuerCert, ca.material.issuerChainPem);
  write(FILES.issuerKey, ca.material.issuerKeyPem, true);
  write(FILES.tokenKey, token.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, true);
  write(FILES.tokenPub, token.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  write(FILES.settings, `${JSON.stringify({ trustDomain: options.trustDomain } satisfies Settings, null, 2)}\n`);
  return paths;
}

export interface LoadedIdentityDir {
  ca: CertificateAuthority;
  trustDomain: string;
  tokens: Ed25519TokenValidator;
}

/** Loads and validates everything `serve` needs; any problem is an IdentityError naming the file. */
export function loadIdentityDir(dir: string, nowMs = Date.now()): LoadedIdentityDir {
  const path = (name: string) => join(dir, name);
  const settingsText = readText(path(FILES.settings), 'settings');
  let settings: Partial<Settings> | null;
  try {
    settings = JSON.parse(settingsText) as Partial<Settings> | null;
  } catch (err) {
    throw new IdentityError('MALFORMED', `${path(FILES.settings)}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const trustDomain = typeof settings === 'object' ? settings?.trustDomain : undefined;
  if (typeof trustDomain !== 'string' || !/^[a-z0-9.-]+$/.test(trustDomain)) {
    throw new IdentityError('MALFORMED', `${path(FILES.settings)}: "trustDomain" must be a DNS-like name, got ${JSON.stringify(trustDomain)}`);
  }
  const ca = CertificateAuthority.fromPem(
    {
      trustAnchorsPem: readText(path(FILES.trustAnchors), 'trust anchor'),
      issuerChainPem: readText(path(FILES.issuerCert), 'issuer certificate'),
      issuerKeyPem: readText(path(FILES.issuerKey), 'issuer key'),
    },
    { trustAnchors: path(FILES.trustAnchors), issuerCert: path(FILES.issuerCert), issuerKey: path(FILES.issuerKey) },
    nowMs,
  );
  let tokens: Ed25519TokenValidator;
  try {
    tokens = new Ed25519TokenValidator(readText(path(FILES.tokenPub), 'token verification key'));
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw new IdentityError('MALFORMED', `${path(FILES.tokenPub)}: ${(err as Error).message}`, { cause: err });
  }
  return { ca, trustDomain, tokens };
}

/** The PEM key `mesh identity token` signs with. */
export function readTokenSigningKey(dir: string): string {
  return readText(join(dir, FILES.tokenKey), 'token signing key');
}
