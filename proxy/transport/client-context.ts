// The TLS client context of the proxy's current certificate, built once per certificate instead
// of once per connection: tls.connect without a `secureContext` parses the key, the chain and the
// trust anchors again for every handshake.
import { createSecureContext, type SecureContext } from 'node:tls';
import { type TlsCredentials } from '../identity/credentials.ts';

interface Cached {
  key: unknown;
  cert: unknown;
  context: SecureContext;
}

// Keyed by the credentials object, so a test's or a second proxy's credentials get their own.
const contexts = new WeakMap<TlsCredentials, Cached>();

/**
 * The context for new client connections with `credentials`' current key and certificate.
 * A renewal hands out new key or certificate values, so the next call builds a new context:
 * new connections present the new certificate, open ones keep theirs. Throws as
 * `credentials.current()` does before the first certificate.
 */
export function clientSecureContext(credentials: TlsCredentials): SecureContext {
  const { key, cert } = credentials.current();
  const cached = contexts.get(credentials);
  // The same strings as last time (identity, or equal PEM): nothing rotated.
  if (cached && cached.key === key && cached.cert === cert) return cached.context;
  const context = createSecureContext({ key, cert, ca: credentials.trustAnchorsPem, minVersion: 'TLSv1.3' });
  contexts.set(credentials, { key, cert, context });
  return context;
}
