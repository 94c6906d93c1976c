// Reads the identity client's settings from the proxy's environment (the names injected next to each proxy).
import { readFileSync } from 'node:fs';
import { parseSpiffeId, spiffeId } from './credentials.ts';
import { tokenFromFile, type IdentityClientOptions } from './client.ts';

/**
 * MESH_IDENTITY_ADDR           the CA, host:port (unset: no identity, the proxy runs in cleartext)
 * MESH_TRUST_ANCHORS_FILE      PEM trust anchors (the CA directory's ca.crt)
 * MESH_IDENTITY_TOKEN_FILE     service-account token, re-read at every call; or
 * MESH_IDENTITY_TOKEN          the token itself
 * MESH_TRUST_DOMAIN            default cluster.local
 * MESH_NAMESPACE, MESH_SERVICE_ACCOUNT   this workload's; or MESH_IDENTITY, the whole SPIFFE id
 */
export function identityOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Omit<IdentityClientOptions, 'registry' | 'logger'> | undefined {
  const addr = env.MESH_IDENTITY_ADDR?.trim();
  if (!addr) return undefined;
  const problems: string[] = [];
  const anchorsFile = env.MESH_TRUST_ANCHORS_FILE?.trim();
  let trustAnchorsPem = '';
  if (!anchorsFile) problems.push('MESH_TRUST_ANCHORS_FILE is not set');
  else {
    try {
      trustAnchorsPem = readFileSync(anchorsFile, 'utf8');
      if (!trustAnchorsPem.includes('-----BEGIN CERTIFICATE-----')) problems.push(`MESH_TRUST_ANCHORS_FILE=${anchorsFile} holds no PEM certificate`);
    } catch (err) {
      problems.push(`MESH_TRUST_ANCHORS_FILE=${anchorsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const trustDomain = env.MESH_TRUST_DOMAIN?.trim() || 'cluster.local';
  let identity = env.MESH_IDENTITY?.trim();
  if (!identity) {
    const ns = env.MESH_NAMESPACE?.trim();
    const sa = env.MESH_SERVICE_ACCOUNT?.trim();
    if (!ns || !sa) problems.push('set MESH_NAMESPACE and MESH_SERVICE_ACCOUNT (or MESH_IDENTITY)');
    else identity = spiffeId(trustDomain, ns, sa);
  }
  if (identity && !parseSpiffeId(identity)) problems.push(`identity "${identity}" is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>`);
  const tokenFile = env.MESH_IDENTITY_TOKEN_FILE?.trim();
  const tokenText = env.MESH_IDENTITY_TOKEN?.trim();
  if (!tokenFile && !tokenText) problems.push('set MESH_IDENTITY_TOKEN_FILE (or MESH_IDENTITY_TOKEN)');
  if (problems.length > 0) throw new Error(`identity settings (MESH_IDENTITY_ADDR=${addr}): ${problems.join('; ')}`);
  return { addr, trustAnchorsPem, identity: identity!, token: tokenFile ? tokenFromFile(tokenFile) : tokenText! };
}
