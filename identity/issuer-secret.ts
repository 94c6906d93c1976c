// Kubernetes mode: the issuer comes from a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt),
// written by `mesh install` or by something else (cert-manager, with --identity-external-issuer),
// and is watched: a new issuer takes over for the next Certify, a broken one is refused and the
// current one stays.
import type { Logger } from 'pino';
import { KubeApiError, type KubeApi, type WatchEvent } from '../api/kubernetes/kube-api.ts';
import { KubeConfigError } from '../api/kube-config.ts';
import { CertificateAuthority } from './ca.ts';

interface Secret {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

const RETRY_MS = 1_000;

export class IssuerSecret {
  private ca: CertificateAuthority;
  private resourceVersion = '';
  private stopped = false;
  private watch?: { stop(): void };
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<(ca: CertificateAuthority) => void>();

  private constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly name: string,
    private readonly logger: Logger,
    first: { ca: CertificateAuthority; resourceVersion: string },
  ) {
    this.ca = first.ca;
    this.resourceVersion = first.resourceVersion;
  }

  /** Reads the Secret (`namespace/name`) once; throws when it is missing, unreadable (RBAC) or not a valid issuer. */
  static async load(api: KubeApi, ref: string, logger: Logger): Promise<IssuerSecret> {
    const parts = ref.split('/');
    const [namespace, name] = parts;
    if (parts.length !== 2 || !namespace || !name) throw new KubeConfigError('KUBE_CONFIG', `--issuer-secret must be namespace/name, got "${ref}"`);
    const secret = await api.json<Secret>('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`, { verb: 'get', resource: 'secrets', group: '', namespace });
    const holder = new IssuerSecret(api, namespace, name, logger, { ca: issuerOf(secret), resourceVersion: secret.metadata.resourceVersion ?? '' });
    holder.watchFrom();
    return holder;
  }

  /** The issuer in force now. */
  get current(): CertificateAuthority {
    return this.ca;
  }

  onRotate(listener: (ca: CertificateAuthority) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watch?.stop();
  }

  private watchFrom(): void {
    if (this.stopped) return;
    const path = `/api/v1/namespaces/${this.namespace}/secrets?fieldSelector=${encodeURIComponent(`metadata.name=${this.name}`)}`;
    void this.api
      .watch(path, this.resourceVersion, { verb: 'watch', resource: 'secrets', group: '', namespace: this.namespace }, (e) => this.apply(e), (err) => this.ended(err))
      .then((handle) => {
        this.watch = handle;
        if (this.stopped) handle.stop();
      }, (err: unknown) => this.ended(err as KubeApiError)); // e.g. credentials not loadable: retried, never an unhandled rejection
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; message?: string };
      if (status.code === 410) this.resourceVersion = '';
      this.watch?.stop();
      // Any other error waits RETRY_MS like a broken watch: resuming at once would meet it again.
      this.ended(status.code === 410 ? undefined : new KubeApiError('KUBE_REQUEST', `the API server sent an error (${status.code ?? '?'}): ${status.message ?? ''}`));
      return;
    }
    const secret = event.object as unknown as Secret;
    if (secret.metadata?.resourceVersion) this.resourceVersion = secret.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    if (event.type === 'DELETED') {
      this.logger.error({ secret: `${this.namespace}/${this.name}` }, 'issuer Secret deleted; keeping the current issuer');
      return;
    }
    let next: ReturnType<typeof issuerOf>;
    try {
      next = issuerOf(secret);
    } catch (err) {
      this.logger.error({ secret: `${this.namespace}/${this.name}`, err: (err as Error).message }, 'issuer Secret refused; keeping the current issuer');
      return;
    }
    if (next.material.issuerChainPem === this.ca.material.issuerChainPem && next.material.issuerKeyPem === this.ca.material.issuerKeyPem) return;
    this.ca = next;
    this.logger.info({ secret: `${this.namespace}/${this.name}`, notAfter: new Date(next.issuerNotAfterMs).toISOString() }, 'issuer rotated');
    // The issuer has changed whatever a listener does: a failing one is said as such, not as a refusal.
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (err) {
        this.logger.error({ secret: `${this.namespace}/${this.name}`, err: (err as Error).message }, 'issuer rotated, but a user of it failed to take the new one');
      }
    }
  }

  private ended(err?: KubeApiError): void {
    if (this.stopped) return;
    this.watch = undefined;
    if (err) this.logger.warn({ err: err.message }, 'issuer Secret watch broke; resuming');
    this.timer = setTimeout(() => void this.resume(), err ? RETRY_MS : 0);
  }

  private async resume(): Promise<void> {
    if (this.stopped) return;
    if (!this.resourceVersion) {
      // 410 Gone: read it again, then watch from there.
      try {
        const secret = await this.api.json<Secret>('GET', `/api/v1/namespaces/${this.namespace}/secrets/${this.name}`, { verb: 'get', resource: 'secrets', group: '', namespace: this.namespace });
        this.apply({ type: 'MODIFIED', object: secret as unknown as Record<string, unknown> });
      } catch (err) {
        return this.ended(err as KubeApiError);
      }
    }
    this.watchFrom();
  }
}

/** A CA from the Secret's fields; throws naming the missing field or what the CA refused. */
function issuerOf(secret: Secret): CertificateAuthority {
  const where = `Secret ${secret.metadata?.namespace}/${secret.metadata?.name}`;
  const field = (key: string) => {
    const value = secret.data?.[key];
    if (!value) throw new Error(`${where}: data["${key}"] is missing (a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt is required)`);
    return Buffer.from(value, 'base64').toString('utf8');
  };
  const material = { trustAnchorsPem: field('ca.crt'), issuerChainPem: field('tls.crt'), issuerKeyPem: field('tls.key') };
  return CertificateAuthority.fromPem(material, { trustAnchors: `${where} ca.crt`, issuerCert: `${where} tls.crt`, issuerKey: `${where} tls.key` });
}
