// What the rest of the proxy needs from its identity: TLS material that may rotate at any time.
// The identity client (proxy/identity/client.ts) implements this from the CA; tests may build
// one from files. Connection code asks for the current material on every new connection,
// so a renewed certificate applies to new connections while open ones continue.
import type { SecureContextOptions } from 'node:tls';

export interface TlsCredentials {
  /** This proxy's own SPIFFE id, `spiffe://cluster.local/ns/<ns>/sa/<sa>`. */
  readonly identity: string;
  /** Trust anchors (PEM) that peers' certificates must chain to. */
  readonly trustAnchorsPem: string;
  /** The current key and certificate chain; throws if none has been issued yet. */
  current(): Pick<SecureContextOptions, 'key' | 'cert'>;
  /** True once a certificate is held (the admin `/ready` reports this). */
  isReady(): boolean;
  /** Resolves when the first certificate is held. */
  whenReady(): Promise<void>;
  /** Called after each renewal, so servers can `setSecureContext`. Returns an unsubscribe. */
  onRotate(listener: () => void): () => void;
}

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
