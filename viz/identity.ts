// The viz's own certificate, `spiffe://<td>/ns/mesh-viz/sa/tap`, from the identity CA with a
// service-account token, renewed at 70% of its life: proxies let only this identity tap them,
// and the destination lists pods only to mesh identities. The proxy's identity client is reused
// as is: the viz proves who it is exactly as a proxy does.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { IdentityClient, tokenFromFile } from '../proxy/identity/client.ts';
import { TAP_NAMESPACE, TAP_SERVICE_ACCOUNT, tapIdentityOf } from '../api/tap-proto.ts';

/** The one identity proxies let tap them (api/tap.proto); the viz runs as it. */
export const VIZ_NAMESPACE = TAP_NAMESPACE;
export const VIZ_SERVICE_ACCOUNT = TAP_SERVICE_ACCOUNT;
export const vizIdentity = tapIdentityOf;

export interface VizIdentitySettings {
  identityAddr: string;
  trustAnchorsFile: string;
  tokenFile: string;
  trustDomain: string;
}

export function vizIdentityClient(s: VizIdentitySettings, logger: Logger): IdentityClient {
  let anchors: string;
  try {
    anchors = readFileSync(s.trustAnchorsFile, 'utf8');
  } catch (err) {
    throw new Error(`trust anchors ${s.trustAnchorsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return new IdentityClient({ addr: s.identityAddr, trustAnchorsPem: anchors, identity: vizIdentity(s.trustDomain), token: tokenFromFile(s.tokenFile), logger });
}
