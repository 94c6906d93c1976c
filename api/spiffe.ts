// SPIFFE identities of this mesh: how an id is spelled, parsed, and read off a peer certificate.
// Both sides of the identity contract use them: the CA checks a CSR's id, proxies check peers'.
import { codedError } from './errors.ts';

/** A server's certificate chains to the trust anchors but names another identity than the one expected. */
export class ServerIdentityError extends codedError('WRONG_SERVER_IDENTITY') {}

/** The namespace the control plane's own workloads (identity, destination) run in. */
export const CONTROL_PLANE_NAMESPACE = 'mesh-system';

/** The SPIFFE id of this mesh: `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** Parse a SPIFFE id of this mesh's shape, or return undefined. */
export function parseSpiffeId(id: string): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const m = /^spiffe:\/\/([a-z0-9.-]+)\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9.-]+)$/.exec(id);
  return m ? { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! } : undefined;
}

/** The URI SAN of a peer certificate as Node reports it (`subjectaltname: 'URI:spiffe://...'`). */
export function spiffeIdOfPeer(subjectaltname: string | undefined): string | undefined {
  if (!subjectaltname) return undefined;
  for (const part of subjectaltname.split(/,\s*/)) {
    if (part.startsWith('URI:spiffe://')) return part.slice(4);
  }
  return undefined;
}

/**
 * A TLS client's check beyond the chain, for a server dialled by IP (where the hostname check says
 * nothing): its certificate must name `expected`; absent, any certificate from the trust anchors
 * passes. `what` names the server in the error.
 */
export function serverIdentityCheck(what: string, expected: string | undefined): (cert: { subjectaltname?: string }) => ServerIdentityError | undefined {
  return (cert) => {
    if (!expected) return undefined;
    const id = spiffeIdOfPeer(cert.subjectaltname);
    return id === expected ? undefined : new ServerIdentityError(`${what} presented ${id ?? 'no SPIFFE id'}, expected ${expected}`);
  };
}
