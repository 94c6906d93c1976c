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
