// The CA's own TLS: a server certificate from the issuer in force, swapped in place when the issuer
// rotates (Kubernetes mode), so the CA's certificate never outlives the issuer that signed it.
import * as grpc from '@grpc/grpc-js';

export interface ServingTls {
  key: string;
  /** The server certificate followed by its intermediates. */
  cert: string;
}

export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(tls: ServingTls) {
    super({}, { key: tls.key, cert: tls.cert });
  }

  /** New certificate for new connections; open ones keep theirs. */
  rotate(tls: ServingTls): void {
    this.updateSecureContextOptions({ key: tls.key, cert: tls.cert });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
