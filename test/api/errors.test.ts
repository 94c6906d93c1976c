// Every error class of the mesh extends CodedError with a stable code, and a rethrown error keeps
// the one it wraps as `cause`.
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodedError } from '../../api/errors.ts';
import { projectRoot } from '../../api/locate.ts';
import { UsageError, parseCommandArgs } from '../../cli/args.ts';
import { AuthorityError, splitAuthority } from '../../destination/index/authority.ts';
import { CertifyRefusal, certify } from '../../identity/certify.ts';
import { CsrError, verifyCsr } from '../../identity/csr.ts';
import { Ed25519TokenValidator, mintToken, TokenError } from '../../identity/token.ts';
import { ConfigError, loadConfig } from '../../proxy/config.ts';
import { RouteMatchError, anchoredRegex } from '../../proxy/http/route-match.ts';
import { CidrError, readCidr } from '../../api/cidr.ts';
import { thrown } from '../helpers/thrown.ts';

const SOURCE_FOLDERS = ['api', 'proxy', 'proxy-init', 'destination', 'identity', 'injector', 'viz', 'cli', 'examples', 'bench'];
// The demo apps stand for any workload and import nothing of the mesh (see apps/app-env.ts).
const OUTSIDE_THE_MESH = 'examples/orders-checkout/apps/';

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

describe('error classes', () => {
  it('no class in the mesh extends Error except CodedError itself', () => {
    const offenders: string[] = [];
    for (const folder of SOURCE_FOLDERS) {
      for (const file of sources(join(projectRoot, folder))) {
        const path = relative(projectRoot, file);
        if (path === 'api/errors.ts' || path.startsWith(OUTSIDE_THE_MESH)) continue;
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(/class\s+(\w+)(?:<[^>]*>)?\s+extends\s+Error\b/g)) offenders.push(`${path}: ${m[1]}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('input errors carry their stable code', () => {
    const cases: Array<[unknown, unknown, string]> = [
      [thrown(() => readCidr('10.0.0.0/33')), CidrError, 'INVALID_CIDR'],
      [thrown(() => splitAuthority('orders:99999')), AuthorityError, 'BAD_AUTHORITY'],
      [thrown(() => loadConfig(['--outbound-listen', 'nonsense'], {})), ConfigError, 'CONFIG_INVALID'],
      [thrown(() => parseCommandArgs(['--nope'], {})), UsageError, 'USAGE'],
    ];
    for (const [err, cls, code] of cases) {
      expect(err).toBeInstanceOf(cls);
      expect(err).toBeInstanceOf(CodedError);
      expect((err as CodedError<string>).code).toBe(code);
    }
  });

  it('a rethrown error keeps what it wraps as cause', () => {
    const regex = thrown(() => anchoredRegex('(', 'route GET /x')) as RouteMatchError;
    expect(regex.code).toBe('INVALID_ROUTE_MATCH');
    expect(regex.message).toMatch(/^route GET \/x: regular expression "\(" does not compile/);
    expect(regex.cause).toBeInstanceOf(SyntaxError);

    const usage = thrown(() => parseCommandArgs(['--nope'], {})) as UsageError;
    expect((usage.cause as NodeJS.ErrnoException).code).toBe('ERR_PARSE_ARGS_UNKNOWN_OPTION');

    const csr = thrown(() => verifyCsr(new Uint8Array([1, 2, 3]))) as CsrError;
    expect(csr.code).toBe('MALFORMED_CSR');
    expect(csr.cause).toBeInstanceOf(Error);
  });

  it('a refused Certify names the refusal in its code and keeps the token\'s error as cause', async () => {
    const keys = generateKeyPairSync('ed25519');
    const signingKeyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const tokens = new Ed25519TokenValidator(keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const expired = mintToken(signingKeyPem, { namespace: 'production', serviceAccount: 'orders' }, { ttlMs: 60_000, nowMs: Date.now() - 3_600_000 });
    const identity = 'spiffe://cluster.local/ns/production/sa/orders';
    // Refused before anything is issued, so no CA is needed.
    const policy = { ca: null as never, tokens, trustDomain: 'cluster.local', lifetimeMs: 60_000 };
    const err = await certify({ identity, token: expired, csrDer: new Uint8Array() }, policy).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertifyRefusal);
    expect((err as CertifyRefusal).code).toBe('TOKEN_EXPIRED');
    expect((err as CertifyRefusal).status).toBe('UNAUTHENTICATED');
    expect((err as CertifyRefusal).cause).toBeInstanceOf(TokenError);
  });
});
