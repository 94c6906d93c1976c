// One kind's objects, kept equal to the API server's: list, then watch from the list's
// resourceVersion; a broken watch resumes from the last version seen; 410 Gone lists again
// (the new list replaces the cache whole, so a deletion missed in the gap is not kept).
import type { Logger } from 'pino';
import { KubeApiError, type KubeApi, type WatchEvent } from '../../api/kubernetes/kube-api.ts';

export interface KindInfo {
  kind: string;
  group: string;
  /** Versions this mesh reads, preferred first; the server's served version is picked at start. */
  versions: string[];
  plural: string;
}

export type KubeObject = Record<string, unknown> & { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number } };

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

export class Reflector {
  readonly objects = new Map<string, KubeObject>();
  private resourceVersion = '';
  private stopped = false;
  private watch?: { stop(): void };
  private timer?: NodeJS.Timeout;
  private failures = 0;
  /** Counts for tests and logs: how often the watch resumed, and how often it had to list again. */
  readonly stats = { lists: 0, resumes: 0 };

  constructor(
    private readonly api: KubeApi,
    readonly info: KindInfo,
    readonly version: string,
    private readonly logger: Logger,
    private readonly onChange: () => void,
  ) {}

  get apiVersion(): string {
    return this.info.group ? `${this.info.group}/${this.version}` : this.version;
  }

  private get path(): string {
    return this.info.group ? `/apis/${this.info.group}/${this.version}/${this.info.plural}` : `/api/${this.version}/${this.info.plural}`;
  }

  private verb(verb: string) {
    return { verb, resource: this.info.plural, group: this.info.group };
  }

  /** Lists once (rejects with the API's error: RBAC, unreachable), then keeps watching in the background. */
  async start(): Promise<void> {
    await this.list();
    this.watchFrom();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watch?.stop();
  }

  private async list(): Promise<void> {
    const list = await this.api.json<{ items: KubeObject[]; metadata: { resourceVersion: string } }>('GET', this.path, this.verb('list'));
    this.objects.clear();
    for (const item of list.items) this.objects.set(keyOf(item), this.typed(item));
    this.resourceVersion = list.metadata.resourceVersion;
    this.stats.lists++;
    this.onChange();
  }

  private watchFrom(): void {
    if (this.stopped) return;
    const from = this.resourceVersion;
    void this.api
      .watch(this.path, from, this.verb('watch'), (event) => this.apply(event), (err) => this.ended(err))
      .then((handle) => {
        this.watch = handle;
        if (this.stopped) handle.stop();
      }, (err: unknown) => this.ended(err as KubeApiError));
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; message?: string };
      // The version we resumed from is older than etcd keeps: only a new list is complete.
      if (status.code === 410) this.resourceVersion = '';
      this.logger.info({ kind: this.info.kind, code: status.code, message: status.message }, 'kubernetes watch ended by the server');
      this.watch?.stop();
      // Any other error is a failure, with its backoff: resuming at once from the same version
      // would meet the same error again, as fast as the API server answers.
      this.ended(status.code === 410 ? undefined : new KubeApiError('KUBE_REQUEST', `watch ${this.info.plural}: the API server sent an error (${status.code ?? '?'}): ${status.message ?? ''}`));
      return;
    }
    const obj = event.object as KubeObject;
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (event.type === 'BOOKMARK') return;
    this.failures = 0;
    if (event.type === 'DELETED') this.objects.delete(keyOf(obj));
    else this.objects.set(keyOf(obj), this.typed(obj));
    this.onChange();
  }

  private ended(err?: KubeApiError): void {
    if (this.stopped) return;
    this.watch = undefined;
    if (err?.code === 'KUBE_GONE') this.resourceVersion = '';
    if (err) {
      this.failures++;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.logger.warn({ kind: this.info.kind, err: err.message, failures: this.failures }, 'kubernetes watch broke; resuming from the last resourceVersion');
      }
    }
    const delay = err ? Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 5)) : 0;
    this.timer = setTimeout(() => void this.resume(), delay);
  }

  private async resume(): Promise<void> {
    if (this.stopped) return;
    if (this.resourceVersion) {
      this.stats.resumes++;
      this.watchFrom();
      return;
    }
    try {
      await this.list();
      this.failures = 0;
      this.watchFrom();
    } catch (err) {
      this.ended(err as KubeApiError);
    }
  }

  /** List items carry no apiVersion/kind; the store's parsers need both. */
  private typed(obj: KubeObject): KubeObject {
    return { ...obj, apiVersion: this.apiVersion, kind: this.info.kind };
  }
}

function keyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
