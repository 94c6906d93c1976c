// The identity client's settings, checked: from the proxy's config (flags and environment merged)
// or straight from the environment, under the one set of names proxy/README.md lists.
import { readFileSync } from 'node:fs';
import { parseSpiffeId, spiffeId } from '../../api/spiffe.ts';
import { tokenFromFile, type IdentityClientOptions } from './client.ts';
import { CodedError } from '../../api/errors.ts';

/** The fields of ProxyConfig the identity client needs (a ProxyConfig is one). */
export interface IdentitySettings {
  /** --identity-addr / MESH_IDENTITY_ADDR: the CA, host:port; unset: no identity (cleartext). */
  identityAddr?: string;
  /** --trust-anchors / MESH_TRUST_ANCHORS: PEM trust anchors (the CA directory's ca.crt). */
  trustAnchorsFile?: string;
  /** --trust-anchors-pem / MESH_TRUST_ANCHORS_PEM: the PEM itself (what the injector sets in a cluster). */
  trustAnchorsPem?: string;
  /** --token-file / MESH_TOKEN_FILE: service-account token, re-read at every call; or */
  tokenFile?: string;
  /** --token / MESH_TOKEN: the token itself. */
  token?: string;
  /** --trust-domain / MESH_TRUST_DOMAIN: default cluster.local. */
  trustDomain?: string;
  /** --identity / MESH_IDENTITY: the whole SPIFFE id; else from namespace and service account. */
  identity?: string;
  /** --pod-namespace / MESH_POD_NAMESPACE. */
  podNamespace?: string;
  /** --service-account / MESH_SERVICE_ACCOUNT. */
  serviceAccount?: string;
}

export type IdentityOptions = Omit<IdentityClientOptions, 'registry' | 'logger'>;

/** The identity settings from the environment, under the canonical names. */
export function identityOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): IdentityOptions | undefined {
  return identityOptions({
    identityAddr: env.MESH_IDENTITY_ADDR,
    trustAnchorsFile: env.MESH_TRUST_ANCHORS,
    trustAnchorsPem: env.MESH_TRUST_ANCHORS_PEM,
    tokenFile: env.MESH_TOKEN_FILE,
    token: env.MESH_TOKEN,
    trustDomain: env.MESH_TRUST_DOMAIN,
    identity: env.MESH_IDENTITY,
    podNamespace: env.MESH_POD_NAMESPACE,
    serviceAccount: env.MESH_SERVICE_ACCOUNT,
  });
}

/** IdentityClientOptions, undefined when no CA is set; throws naming every problem at once. */
export function identityOptions(s: IdentitySettings): IdentityOptions | undefined {
  const addr = s.identityAddr?.trim();
  if (!addr) return undefined;
  const problems: string[] = [];
  const anchorsFile = s.trustAnchorsFile?.trim();
  let trustAnchorsPem = '';
  const inline = s.trustAnchorsPem?.trim();
  if (inline && anchorsFile) problems.push('set one of --trust-anchors / MESH_TRUST_ANCHORS and --trust-anchors-pem / MESH_TRUST_ANCHORS_PEM, not both');
  else if (inline) {
    trustAnchorsPem = `${inline}\n`;
    if (!inline.includes('-----BEGIN CERTIFICATE-----')) problems.push('MESH_TRUST_ANCHORS_PEM holds no PEM certificate');
  } else if (!anchorsFile) problems.push('--trust-anchors / MESH_TRUST_ANCHORS is not set');
  else {
    try {
      trustAnchorsPem = readFileSync(anchorsFile, 'utf8');
      if (!trustAnchorsPem.includes('-----BEGIN CERTIFICATE-----')) problems.push(`MESH_TRUST_ANCHORS=${anchorsFile} holds no PEM certificate`);
    } catch (err) {
      problems.push(`MESH_TRUST_ANCHORS=${anchorsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const trustDomain = s.trustDomain?.trim() || 'cluster.local';
  let identity = s.identity?.trim();
  if (!identity) {
    const ns = s.podNamespace?.trim();
    const sa = s.serviceAccount?.trim();
    if (!ns || !sa) problems.push('set --pod-namespace / MESH_POD_NAMESPACE and --service-account / MESH_SERVICE_ACCOUNT (or --identity / MESH_IDENTITY)');
    else identity = spiffeId(trustDomain, ns, sa);
  }
  if (identity && !parseSpiffeId(identity)) problems.push(`identity "${identity}" is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>`);
  const tokenFile = s.tokenFile?.trim();
  const tokenText = s.token?.trim();
  if (!tokenFile && !tokenText) problems.push('set --token-file / MESH_TOKEN_FILE (or --token / MESH_TOKEN)');
  if (problems.length > 0) throw new IdentitySettingsError(`identity settings (MESH_IDENTITY_ADDR=${addr}): ${problems.join('; ')}`);
  return { addr, trustAnchorsPem, identity: identity!, token: tokenFile ? tokenFromFile(tokenFile) : tokenText! };
}

export class IdentitySettingsError extends CodedError<'IDENTITY_SETTINGS_INVALID'> {
  override readonly name = 'IdentitySettingsError';
  constructor(message: string, options?: ErrorOptions) {
    super('IDENTITY_SETTINGS_INVALID', message, options);
  }
}
