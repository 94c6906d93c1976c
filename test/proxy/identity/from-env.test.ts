// The identity settings a proxy reads from its environment: complete, absent, or wrong with every problem named.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { identityOptions, identityOptionsFromEnv, IdentitySettingsError } from '../../../proxy/identity/from-env.ts';
import { testPki } from '../../helpers/pki.ts';

describe('identityOptionsFromEnv', () => {
  it('is undefined without MESH_IDENTITY_ADDR (cleartext development)', () => {
    expect(identityOptionsFromEnv({})).toBeUndefined();
  });

  it('builds the SPIFFE id and reads the anchors and the token file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-env-'));
    writeFileSync(join(dir, 'ca.crt'), (await testPki()).anchorPem);
    writeFileSync(join(dir, 'token'), 'tok-1\n');
    const o = identityOptionsFromEnv({
      MESH_IDENTITY_ADDR: '127.0.0.1:8080', MESH_TRUST_ANCHORS: join(dir, 'ca.crt'), MESH_TOKEN_FILE: join(dir, 'token'),
      MESH_POD_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'orders',
    })!;
    expect(o.identity).toBe('spiffe://cluster.local/ns/production/sa/orders');
    expect(o.trustAnchorsPem).toContain('BEGIN CERTIFICATE');
    expect(await (o.token as () => Promise<string>)()).toBe('tok-1');
    writeFileSync(join(dir, 'token'), 'tok-2'); // rotated on disk: read again
    expect(await (o.token as () => Promise<string>)()).toBe('tok-2');
  });

  it('names every missing or wrong setting at once', () => {
    expect(() => identityOptionsFromEnv({ MESH_IDENTITY_ADDR: '127.0.0.1:8080', MESH_TRUST_ANCHORS: '/nonexistent/ca.crt', MESH_POD_NAMESPACE: 'production' })).toThrow(
      'identity settings (MESH_IDENTITY_ADDR=127.0.0.1:8080): MESH_TRUST_ANCHORS=/nonexistent/ca.crt: ENOENT; set --pod-namespace / MESH_POD_NAMESPACE and --service-account / MESH_SERVICE_ACCOUNT (or --identity / MESH_IDENTITY); set --token-file / MESH_TOKEN_FILE (or --token / MESH_TOKEN)',
    );
  });

  it('reads the proxy config\'s own fields, and the old spellings no longer count', () => {
    expect(() => identityOptions({ identityAddr: '127.0.0.1:8080', podNamespace: 'production', serviceAccount: 'orders', token: 't' })).toThrow(IdentitySettingsError);
    expect(() => identityOptions({ identityAddr: '127.0.0.1:8080', podNamespace: 'production', serviceAccount: 'orders', token: 't' })).toThrow(
      'identity settings (MESH_IDENTITY_ADDR=127.0.0.1:8080): --trust-anchors / MESH_TRUST_ANCHORS is not set',
    );
    expect(() => identityOptionsFromEnv({
      MESH_IDENTITY_ADDR: '127.0.0.1:8080', MESH_TRUST_ANCHORS_FILE: '/x/ca.crt', MESH_IDENTITY_TOKEN_FILE: '/x/token', MESH_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'orders',
    })).toThrow(/MESH_TRUST_ANCHORS is not set; set --pod-namespace .*; set --token-file/);
  });

  it('takes the anchors themselves from MESH_TRUST_ANCHORS_PEM (an injected pod in a cluster), refusing both or a non-PEM', async () => {
    const pem = (await testPki()).anchorPem;
    const base = { MESH_IDENTITY_ADDR: '127.0.0.1:8080', MESH_TOKEN: 't', MESH_POD_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'orders' };
    expect(identityOptionsFromEnv({ ...base, MESH_TRUST_ANCHORS_PEM: pem })!.trustAnchorsPem.trim()).toBe(pem.trim());
    expect(() => identityOptionsFromEnv({ ...base, MESH_TRUST_ANCHORS_PEM: pem, MESH_TRUST_ANCHORS: '/x/ca.crt' })).toThrow(/not both/);
    expect(() => identityOptionsFromEnv({ ...base, MESH_TRUST_ANCHORS_PEM: 'ca.crt' })).toThrow(/MESH_TRUST_ANCHORS_PEM holds no PEM certificate/);
  });
});
