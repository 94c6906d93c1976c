// Builds the proxy's CSR: its public key and SPIFFE id, signed with the key that never leaves the proxy.
// DER by @oslojs/asn1 and the signature by node:crypto: a proxy loads no certificate-building library.
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import {
  ASN1BitString, ASN1Class, ASN1EncodableSequence, ASN1EncodableSet, ASN1IA5String, ASN1Integer, ASN1Null,
  ASN1ObjectIdentifier, ASN1OctetString, encodeASN1, encodeObjectIdentifier, parseASN1NoLeftoverBytes, type ASN1Encodable,
} from '@oslojs/asn1';

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14'; // PKCS#9
const SUBJECT_ALT_NAME = '2.5.29.17';
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const URI_NAME = 6; // GeneralName's [6] uniformResourceIdentifier

const oid = (dotted: string) => new ASN1ObjectIdentifier(encodeObjectIdentifier(dotted));

/** A value under an IMPLICIT context tag: the inner value's contents with the tag replaced. */
function implicit(tag: number, inner: ASN1Encodable): ASN1Encodable {
  return { class: ASN1Class.ContextSpecific, form: inner.form, tag, contents: () => inner.contents() };
}

/**
 * DER PKCS#10 (RFC 2986) with an empty subject and the identity as the only URI SAN, asked for
 * in an extensionRequest attribute; RSASSA-PKCS1-v1_5 with SHA-256. The same bytes node-forge
 * built before (test/proxy/identity/csr.test.ts compares them).
 */
export function createCsrDer(identity: string, privateKey: KeyObject): Buffer {
  const spki = parseASN1NoLeftoverBytes(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const generalNames = new ASN1EncodableSequence([implicit(URI_NAME, new ASN1IA5String(new TextEncoder().encode(identity)))]);
  const extensions = new ASN1EncodableSequence([
    new ASN1EncodableSequence([oid(SUBJECT_ALT_NAME), new ASN1OctetString(encodeASN1(generalNames))]),
  ]);
  const attributes = new ASN1EncodableSet([new ASN1EncodableSequence([oid(EXTENSION_REQUEST), new ASN1EncodableSet([extensions])])]);
  const info = new ASN1EncodableSequence([
    new ASN1Integer(0n), // version 1
    new ASN1EncodableSequence([]), // the subject: empty, the identity is the SAN
    spki,
    implicit(0, attributes),
  ]);
  const signature = sign('sha256', encodeASN1(info), privateKey);
  const request = new ASN1EncodableSequence([
    info,
    new ASN1EncodableSequence([oid(SHA256_WITH_RSA), new ASN1Null()]),
    new ASN1BitString(signature, signature.length * 8),
  ]);
  return Buffer.from(encodeASN1(request));
}
