// The certificate authority: holds the trust anchor(s) and the issuer, and signs workload certificates.
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { generateRsaKeyPair } from '../api/keypair.ts';
import { validateCaMaterial, type MaterialSources } from './ca-validate.ts';
import { buildAnchor, buildIssuer, buildLeaf, wholeSeconds, type LeafNames } from './x509-build.ts';

/** The PEM files a CA runs from (see identity/README.md for the file names). */
export interface CaMaterial {
  trustAnchorsPem: string;
  /** The issuer first, then any intermediates between it and the anchor. */
  issuerChainPem: string;
  issuerKeyPem: string;
}

export interface IssueOptions {
  lifetimeMs?: number;
  /** Issue as if the clock read this (tests use it to mint already-expired certificates). */
  nowMs?: number;
}

export interface IssuedCertificate {
  leafPem: string;
  leafDer: Buffer;
  /** Issuer first, not including the anchor: what Certify returns and TLS peers need. */
  intermediatesPem: string[];
  intermediatesDer: Buffer[];
  notBeforeMs: number;
  notAfterMs: number;
  serialHex: string;
}

export const DEFAULT_WORKLOAD_LIFETIME_MS = 24 * 3_600_000;
export const DEFAULT_ANCHOR_LIFETIME_MS = 87_600 * 3_600_000;
export const DEFAULT_ISSUER_LIFETIME_MS = 8_760 * 3_600_000;
/** Backdating notBefore lets a peer whose clock runs a little behind accept a fresh certificate (Linkerd uses 20 s). */
export const CLOCK_SKEW_ALLOWANCE_MS = 20_000;

const DEFAULT_SOURCES: MaterialSources = { trustAnchors: 'ca.crt', issuerCert: 'issuer.crt', issuerKey: 'issuer.key' };

export class CertificateAuthority {
  readonly material: CaMaterial;
  private readonly issuerCert: forge.pki.Certificate;
  private readonly issuerKey: KeyObject;
  private readonly intermediatesPem: string[];
  private readonly intermediatesDer: Buffer[];
  /** The issuer's notAfter: no certificate may outlive the key that vouches for it. */
  readonly issuerNotAfterMs: number;

  private constructor(material: CaMaterial, issuerKey: KeyObject, chainPems: string[]) {
    this.material = material;
    this.issuerKey = issuerKey;
    this.issuerCert = forge.pki.certificateFromPem(chainPems[0]!);
    this.intermediatesPem = chainPems;
    this.intermediatesDer = chainPems.map((pem) => Buffer.from(forge.pem.decode(pem)[0]!.body, 'binary'));
    this.issuerNotAfterMs = this.issuerCert.validity.notAfter.getTime();
  }

  /** Validates the material (refusing expired, mismatched or malformed pieces) and builds a CA from it. */
  static fromPem(material: CaMaterial, sources: MaterialSources = DEFAULT_SOURCES, nowMs = Date.now()): CertificateAuthority {
    const { chain, key } = validateCaMaterial(material, sources, nowMs);
    return new CertificateAuthority(material, key, chain.map((c) => c.toString()));
  }

  /** Mints a fresh anchor and issuer (what `mesh identity init` does). */
  static async generate(options: { trustDomain: string; anchorLifetimeMs?: number; issuerLifetimeMs?: number; nowMs?: number }): Promise<CertificateAuthority> {
    const now = options.nowMs ?? Date.now();
    const [anchorKeys, issuerKeys] = await Promise.all([generateRsaKeyPair(), generateRsaKeyPair()]);
    const anchorValidity = {
      notBefore: wholeSeconds(now - CLOCK_SKEW_ALLOWANCE_MS),
      notAfter: wholeSeconds(now + (options.anchorLifetimeMs ?? DEFAULT_ANCHOR_LIFETIME_MS)),
    };
    const anchor = buildAnchor(anchorKeys.forgePublicKey, anchorKeys.privateKey, `root.${options.trustDomain}`, anchorValidity);
    const issuerValidity = {
      notBefore: anchorValidity.notBefore,
      notAfter: wholeSeconds(Math.min(now + (options.issuerLifetimeMs ?? DEFAULT_ISSUER_LIFETIME_MS), anchorValidity.notAfter.getTime())),
    };
    const issuer = buildIssuer(issuerKeys.forgePublicKey, `identity.${options.trustDomain}`, issuerValidity, {
      cert: anchor,
      key: anchorKeys.privateKey,
    });
    const material = {
      trustAnchorsPem: forge.pki.certificateToPem(anchor),
      issuerChainPem: forge.pki.certificateToPem(issuer),
      issuerKeyPem: issuerKeys.privateKeyPem,
    };
    return new CertificateAuthority(material, issuerKeys.privateKey, [material.issuerChainPem]);
  }

  /** Signs a workload certificate over `publicKey` (forge, or SPKI PEM), clamped to the issuer's lifetime. */
  issue(publicKey: forge.pki.PublicKey | string, names: LeafNames, options: IssueOptions = {}): IssuedCertificate {
    if (typeof publicKey === 'string') publicKey = forge.pki.publicKeyFromPem(publicKey);
    const now = options.nowMs ?? Date.now();
    const notBefore = wholeSeconds(now - CLOCK_SKEW_ALLOWANCE_MS);
    const notAfter = wholeSeconds(Math.min(now + (options.lifetimeMs ?? DEFAULT_WORKLOAD_LIFETIME_MS), this.issuerNotAfterMs));
    const leaf = buildLeaf(publicKey, names, { notBefore, notAfter }, { cert: this.issuerCert, key: this.issuerKey });
    return {
      leafPem: forge.pki.certificateToPem(leaf),
      leafDer: Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(leaf)).getBytes(), 'binary'),
      intermediatesPem: this.intermediatesPem,
      intermediatesDer: this.intermediatesDer,
      notBeforeMs: notBefore.getTime(),
      notAfterMs: notAfter.getTime(),
      serialHex: leaf.serialNumber,
    };
  }
}
