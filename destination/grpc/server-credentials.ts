// TLS for the destination's gRPC port: the server certificate from the mesh CA, and client
// certificates requested and verified when presented (so proxies are identified) but not
// required (so the CLI can read streams). Registration checks for a verified one itself.
import * as grpc from '@grpc/grpc-js';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';

export interface ServerTls {
  key: string | Buffer;
  /** The server certificate followed by its intermediates. */
  cert: string | Buffer;
  /** Trust anchors client certificates must chain to. */
  ca: string | Buffer;
}

export class OptionalClientCertCredentials extends grpc.ServerCredentials {
  constructor(tls: ServerTls) {
    // rejectUnauthorized false: a bad client certificate does not end the handshake, it just
    // leaves the socket unauthorized, and grpc-js then reports no peer certificate.
    super({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, { key: tls.key, cert: tls.cert, ca: tls.ca });
  }

  /** New server certificate for new connections (after a renewal). */
  rotate(tls: ServerTls): void {
    this.updateSecureContextOptions({ key: tls.key, cert: tls.cert, ca: tls.ca });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** The caller's SPIFFE id, only from a client certificate that chained to the trust anchors. */
export function verifiedCallerIdentity(call: { getAuthContext(): { sslPeerCertificate?: { subjectaltname?: string } } }): string | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  return cert ? spiffeIdOfPeer(cert.subjectaltname) : undefined;
}
