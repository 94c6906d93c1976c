// TlsCredentials from material already in hand (files, or a test's CA): no CA calls, rotation by `replace`.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import type { TlsCredentials } from './credentials.ts';

export interface StaticMaterial {
  /** PKCS#8 (or PKCS#1) PEM private key. */
  keyPem: string;
  /** The leaf certificate, then its intermediates, as PEM. */
  certChainPem: string;
}

export class StaticCredentials implements TlsCredentials {
  readonly identity: string;
  readonly trustAnchorsPem: string;
  private material: StaticMaterial;
  private readonly rotations = new EventEmitter();

  constructor(identity: string, trustAnchorsPem: string, material: StaticMaterial) {
    this.identity = identity;
    this.trustAnchorsPem = trustAnchorsPem;
    this.material = material;
  }

  /** Reads a key, a certificate chain and the trust anchors from PEM files (read once). */
  static fromFiles(identity: string, files: { trustAnchors: string; certChain: string; key: string }): StaticCredentials {
    const read = (path: string, what: string): string => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw new Error(`identity: cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    return new StaticCredentials(identity, read(files.trustAnchors, 'trust anchors'), {
      keyPem: read(files.key, 'private key'),
      certChainPem: read(files.certChain, 'certificate chain'),
    });
  }

  current(): Pick<SecureContextOptions, 'key' | 'cert'> {
    return { key: this.material.keyPem, cert: this.material.certChainPem };
  }

  isReady(): boolean {
    return true;
  }

  whenReady(): Promise<void> {
    return Promise.resolve();
  }

  /** Swaps in new material, then tells listeners (as a renewal would). */
  replace(material: StaticMaterial): void {
    this.material = material;
    this.rotations.emit('rotate');
  }

  onRotate(listener: () => void): () => void {
    this.rotations.on('rotate', listener);
    return () => this.rotations.off('rotate', listener);
  }
}
