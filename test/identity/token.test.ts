// Token validation on its own: each way a token can be wrong has its own code.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Ed25519TokenValidator, mintToken, TokenError } from '../../identity/token.ts';

const pair = generateKeyPairSync('ed25519');
const signingKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const validator = new Ed25519TokenValidator(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
const orders = { namespace: 'production', serviceAccount: 'orders' };

async function codeOf(token: string): Promise<string> {
  try {
    await validator.validate(token);
    return 'VALID';
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return (err as TokenError).code;
  }
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('Ed25519TokenValidator', () => {
  it('accepts a fresh token and returns its subject', async () => {
    await expect(validator.validate(mintToken(signingKey, orders))).resolves.toEqual(orders);
  });

  it('gives each wrong token its code', async () => {
    const other = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const [h, p] = mintToken(signingKey, orders).split('.');
    expect(await codeOf(mintToken(other, orders))).toBe('FORGED');
    expect(await codeOf(`${b64({ alg: 'none' })}.${p}.`)).toBe('FORGED');
    expect(await codeOf(`${h}.${b64({ aud: 'identity.mesh', ns: 'production', sa: 'admin', exp: 9e9 })}.${mintToken(signingKey, orders).split('.')[2]}`)).toBe('FORGED');
    expect(await codeOf(mintToken(signingKey, orders, { nowMs: Date.now() - 2 * 3_600_000, ttlMs: 3_600_000 }))).toBe('EXPIRED');
    expect(await codeOf(mintToken(signingKey, orders, { audience: 'api' }))).toBe('WRONG_AUDIENCE');
    expect(await codeOf('a.b')).toBe('MALFORMED');
    expect(await codeOf('!!!.???.***')).toBe('MALFORMED');
    expect(await codeOf(mintToken(signingKey, orders, { nowMs: Date.now() + 3_600_000 }))).toBe('MALFORMED');
  });

  it('refuses to mint for names Kubernetes would not accept', () => {
    expect(() => mintToken(signingKey, { namespace: 'Prod', serviceAccount: 'x' })).toThrow(/namespace "Prod" is not a Kubernetes name/);
  });
});
