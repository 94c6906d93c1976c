// The identity settings a proxy reads from its environment: complete, absent, or wrong with every problem named.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { identityOptionsFromEnv } from '../../proxy/identity/from-env.ts';
import { testPki } from '../helpers/pki.ts';

describe('identityOptionsFromEnv', () => {
  it('is undefined without MESH_IDENTITY_ADDR (cleartext development)', () => {
    expect(identityOptionsFromEnv({})).toBeUndefined();
  });

  it('builds the SPIFFE id and reads the anchors and the token file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-env-'));
    writeFileSync(join(dir, 'ca.crt'), (await testPki()).anchorPem);
    writeFileSync(join(dir, 'token'), 'tok-1\n');
    const o = identityOptionsFromEnv({
      MESH_IDENTITY_ADDR: '127.0.0.1:8080', MESH_TRUST_ANCHORS_FILE: join(dir, 'ca.crt'), MESH_IDENTITY_TOKEN_FILE: join(dir, 'token'),
      MESH_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'orders',
    })!;
    expect(o.identity).toBe('spiffe://cluster.local/ns/production/sa/orders');
    expect(o.trustAnchorsPem).toContain('BEGIN CERTIFICATE');
    expect(await (o.token as () => Promise<string>)()).toBe('tok-1');
    writeFileSync(join(dir, 'token'), 'tok-2'); // rotated on disk: read again
    expect(await (o.token as () => Promise<string>)()).toBe('tok-2');
  });

  it('names every missing or wrong setting at once', () => {
    expect(() => identityOptionsFromEnv({ MESH_IDENTITY_ADDR: '127.0.0.1:8080', MESH_TRUST_ANCHORS_FILE: '/nonexistent/ca.crt', MESH_NAMESPACE: 'production' })).toThrow(
      'identity settings (MESH_IDENTITY_ADDR=127.0.0.1:8080): MESH_TRUST_ANCHORS_FILE=/nonexistent/ca.crt: ENOENT; set MESH_NAMESPACE and MESH_SERVICE_ACCOUNT (or MESH_IDENTITY); set MESH_IDENTITY_TOKEN_FILE (or MESH_IDENTITY_TOKEN)',
    );
  });
});
