// Small pieces of the renewal loop: the jittered backoff, and the PEM chain built from a Certify answer.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';
import type { CertifyResponseMessage } from '../../api/identity-proto.ts';

/** Exponential backoff with "equal jitter": half fixed, half random, so proxies restarted together spread out. */
export class RetryDelay {
  private attempt = 0;

  constructor(private readonly minMs: number, private readonly maxMs: number) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.attempt++);
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Leaf then intermediates as PEM, what node:tls sends to peers so they can build the chain. */
export function chainPemFromResponse(res: CertifyResponseMessage, identity: string, key: KeyObject): string {
  if (!res.leafCertificate || res.leafCertificate.length === 0) throw new Error('Certify answered without a leaf certificate');
  // Parsing proves each piece is a certificate before we hand it to TLS; a leaf for another
  // key or identity would only fail later, at every handshake, so refuse it here.
  const [leaf, ...rest] = [res.leafCertificate, ...res.intermediateCertificates].map((der) => new X509Certificate(der));
  if (!leaf!.checkPrivateKey(key)) throw new Error('Certify returned a certificate for another key');
  const named = spiffeIdOfPeer(leaf!.subjectAltName);
  if (named !== identity) throw new Error(`Certify returned a certificate for "${named}", expected "${identity}"`);
  return [leaf!, ...rest].map((cert) => cert.toString()).join('');
}
