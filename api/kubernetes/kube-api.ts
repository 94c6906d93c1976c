// The Kubernetes API as the control plane reads it: credentials from a kubeconfig or the pod's
// in-cluster configuration (@kubernetes/client-node does that part), then plain JSON requests and
// watch streams over node:https, with errors that say what was refused and where.
import type { KubeConfig } from '@kubernetes/client-node';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
import { CodedError } from '../errors.ts';
import { loadKubeConfig } from '../kube-config.ts';

export type KubeErrorCode = 'KUBE_UNREACHABLE' | 'KUBE_FORBIDDEN' | 'KUBE_UNAUTHORIZED' | 'KUBE_GONE' | 'KUBE_NOT_FOUND' | 'KUBE_REQUEST';

/** A request the API server did not answer as asked; `status` is the HTTP status (0: no answer). */
export class KubeApiError extends CodedError<KubeErrorCode> {
  constructor(
    code: KubeErrorCode,
    message: string,
    readonly status = 0,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** What a request does, for RBAC messages: `list services` in group "" (core). */
export interface Verb {
  verb: string;
  resource: string;
  group: string;
  namespace?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface WatchHandle {
  stop(): void;
}

export class KubeApi {
  private constructor(
    private readonly config: KubeConfig,
    /** Where the configuration came from, for messages. */
    readonly source: string,
  ) {}

  /**
   * From a kubeconfig file, or, without one, the in-cluster service account (KUBERNETES_SERVICE_HOST).
   * A configuration that cannot be loaded throws loadKubeConfig's KubeConfigError (KUBE_CONFIG) as is.
   */
  static load(kubeconfig?: string): KubeApi {
    return new KubeApi(loadKubeConfig(kubeconfig), kubeconfig ?? 'in-cluster configuration');
  }

  get server(): string {
    return this.config.getCurrentCluster()!.server;
  }

  /** The user the configuration authenticates as, when it says (a token's subject is only known to the server). */
  get user(): string {
    return this.config.getCurrentUser()?.name ?? '?';
  }

  /** One JSON request; a non-2xx answer throws a KubeApiError naming `what`. */
  async json<T = Record<string, unknown>>(method: string, path: string, what: Verb, body?: unknown): Promise<T> {
    const options = await this.options(method, path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) options.headers = { ...options.headers, 'content-type': 'application/json' };
    return new Promise<T>((resolve, reject) => {
      const req = httpsRequest(options, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('error', (err) => reject(this.unreachable(err)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { message: text.slice(0, 200) };
          }
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(this.refused(status, parsed, what));
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', (err) => reject(this.unreachable(err)));
      req.end(payload);
    });
  }

  /**
   * A watch from `resourceVersion`: `onEvent` for each event line, `onEnd` once when the stream
   * ends (undefined: the server closed it normally, as it asks it to after 5-10 minutes).
   * `timeoutSeconds` (default: random in 300-600, as client-go spreads them) is the server's; a
   * watch silent for 30 s longer (at most; an API server gone without a FIN or RST: a partition, a paused
   * VM) is ended here with an error, so the caller resumes instead of keeping stale state forever.
   */
  async watch(path: string, resourceVersion: string, what: Verb, onEvent: (event: WatchEvent) => void, onEnd: (err?: KubeApiError) => void, timeoutSeconds = 300 + Math.floor(Math.random() * 300)): Promise<WatchHandle> {
    const sep = path.includes('?') ? '&' : '?';
    const options = await this.options('GET', `${path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(resourceVersion)}`);
    let ended = false;
    const end = (err?: KubeApiError) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    const req = httpsRequest(options, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        let text = '';
        res.on('error', (err) => end(this.unreachable(err)));
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = {};
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = { message: text.slice(0, 200) };
          }
          end(this.refused(status, parsed, what));
        });
        return;
      }
      // Before readline's own listener: an 'error' it re-emits with no listener would throw out of
      // the response's emit, and this end() would never run (the watch would hang, not resume).
      res.on('error', (err) => end(this.unreachable(err)));
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      lines.on('error', (err) => end(this.unreachable(err)));
      lines.on('line', (line) => {
        if (ended || !line.trim()) return;
        let event: WatchEvent;
        try {
          event = JSON.parse(line) as WatchEvent;
        } catch {
          return end(new KubeApiError('KUBE_REQUEST', `watch ${path}: a line that is not JSON: ${line.slice(0, 80)}`));
        }
        onEvent(event);
      });
      res.on('close', () => end());
    });
    req.on('error', (err) => end(this.unreachable(err)));
    // Idle time on the socket: every event or bookmark resets it.
    const silentMs = timeoutSeconds * 1000 + Math.min(30_000, timeoutSeconds * 1000);
    req.setTimeout(silentMs, () => req.destroy(new Error(`the watch was silent for ${silentMs / 1000} s, past its timeoutSeconds=${timeoutSeconds}`)));
    req.end();
    return {
      stop: () => {
        ended = true;
        req.destroy();
      },
    };
  }

  private async options(method: string, path: string): Promise<RequestOptions> {
    const url = new URL(this.server + path);
    const options: RequestOptions = { method, hostname: url.hostname, port: url.port || 443, path: url.pathname + url.search, headers: { accept: 'application/json' } };
    await this.config.applyToHTTPSOptions(options);
    // An agent of our own per request would defeat keep-alive; the options carry the TLS material.
    delete (options as { agent?: unknown }).agent;
    return options;
  }

  private unreachable(err: Error): KubeApiError {
    const detail = (err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${err.message}` : err.message;
    return new KubeApiError('KUBE_UNREACHABLE', `cannot reach the Kubernetes API at ${this.server} (from ${this.source}): ${detail}`, 0, { cause: err });
  }

  private refused(status: number, body: unknown, what: Verb): KubeApiError {
    const message = typeof (body as { message?: unknown })?.message === 'string' ? (body as { message: string }).message : JSON.stringify(body).slice(0, 200);
    const scope = what.namespace ? `in namespace ${what.namespace}` : 'at the cluster scope';
    const group = what.group === '' ? '"" (core)' : `"${what.group}"`;
    if (status === 403) {
      return new KubeApiError('KUBE_FORBIDDEN', `RBAC: the API server refused to ${what.verb} ${what.resource} (API group ${group}) ${scope}: grant the verb "${what.verb}" on resource "${what.resource}" to ${this.user} (${this.source}). Server said: ${message}`, status);
    }
    if (status === 401) return new KubeApiError('KUBE_UNAUTHORIZED', `the API server at ${this.server} did not accept the credentials of ${this.source}: ${message}`, status);
    if (status === 410) return new KubeApiError('KUBE_GONE', `${what.verb} ${what.resource}: resourceVersion too old (410 Gone): ${message}`, status);
    if (status === 404) return new KubeApiError('KUBE_NOT_FOUND', `${what.verb} ${what.resource} ${scope}: not found: ${message}`, status);
    return new KubeApiError('KUBE_REQUEST', `${what.verb} ${what.resource} ${scope}: HTTP ${status}: ${message}`, status);
  }
}
