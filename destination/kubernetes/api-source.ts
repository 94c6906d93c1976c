// The Kubernetes API as the destination's document source: one Reflector per kind the mesh reads,
// each object handed to the store as one document, so it is validated exactly as a file would be.
import type { Logger } from 'pino';
import { KubeApiError, type KubeApi } from '../../api/kubernetes/kube-api.ts';
import type { DocumentGroup, DocumentSource } from '../store/document-source.ts';
import { Reflector, type KindInfo, type KubeObject } from './reflector.ts';

/** Every kind the destination reads from the API, with the versions it understands (preferred first). */
export const WATCHED_KINDS: KindInfo[] = [
  { kind: 'Service', group: '', versions: ['v1'], plural: 'services' },
  { kind: 'Pod', group: '', versions: ['v1'], plural: 'pods' },
  // 1.21 brought v1; 1.20 serves only v1beta1.
  { kind: 'EndpointSlice', group: 'discovery.k8s.io', versions: ['v1', 'v1beta1'], plural: 'endpointslices' },
  { kind: 'ServiceProfile', group: 'linkerd.io', versions: ['v1alpha2', 'v1alpha1'], plural: 'serviceprofiles' },
  { kind: 'Server', group: 'policy.linkerd.io', versions: ['v1beta3', 'v1beta2', 'v1beta1', 'v1alpha1'], plural: 'servers' },
  { kind: 'ServerAuthorization', group: 'policy.linkerd.io', versions: ['v1beta1', 'v1alpha1'], plural: 'serverauthorizations' },
  { kind: 'AuthorizationPolicy', group: 'policy.linkerd.io', versions: ['v1alpha1'], plural: 'authorizationpolicies' },
  { kind: 'MeshTLSAuthentication', group: 'policy.linkerd.io', versions: ['v1alpha1'], plural: 'meshtlsauthentications' },
  { kind: 'NetworkAuthentication', group: 'policy.linkerd.io', versions: ['v1alpha1'], plural: 'networkauthentications' },
  { kind: 'HTTPRoute', group: 'policy.linkerd.io', versions: ['v1beta3', 'v1beta2', 'v1beta1', 'v1alpha1'], plural: 'httproutes' },
  { kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', versions: ['v1', 'v1beta1'], plural: 'httproutes' },
  { kind: 'GRPCRoute', group: 'gateway.networking.k8s.io', versions: ['v1', 'v1alpha2'], plural: 'grpcroutes' },
];

/** How often a kind whose CRD is not installed yet is looked for again. */
const MISSING_KIND_RETRY_MS = 5_000;

export class ApiSource implements DocumentSource {
  private readonly reflectors: Reflector[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly missing = new Set<KindInfo>();
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly api: KubeApi,
    private readonly logger: Logger,
  ) {}

  /** The API server's URL, for messages. */
  get server(): string {
    return this.api.server;
  }

  /**
   * Finds the version the server serves of each kind and lists every one of them. Rejects with a
   * clear error when the API cannot be reached or RBAC refuses a list; a kind whose CRD is not
   * installed is looked for again until it is.
   */
  async start(): Promise<void> {
    for (const info of WATCHED_KINDS) {
      const version = await this.servedVersion(info);
      if (!version) {
        this.missing.add(info);
        this.logger.warn({ kind: info.kind, group: info.group, versions: info.versions }, 'kubernetes kind not served (CRD not installed?); looking again every 5 s');
        continue;
      }
      await this.startReflector(info, version);
    }
    this.scheduleMissing();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const r of this.reflectors) r.stop();
  }

  /** The reflectors, for tests and `mesh check`: which kind at which version, lists and resumes. */
  watched(): Array<{ kind: string; apiVersion: string; objects: number; lists: number; resumes: number }> {
    return this.reflectors.map((r) => ({ kind: r.info.kind, apiVersion: r.apiVersion, objects: r.objects.size, ...r.stats }));
  }

  /** The object behind a store origin (for Events: its uid). */
  objectAt(origin: string): { apiVersion: string; kind: string; object: KubeObject } | undefined {
    for (const r of this.reflectors) {
      const prefix = `${originPrefix(r)}/`;
      if (!origin.startsWith(prefix)) continue;
      const object = r.objects.get(origin.slice(prefix.length));
      if (object) return { apiVersion: r.apiVersion, kind: r.info.kind, object };
    }
    return undefined;
  }

  read(): DocumentGroup[] {
    const groups: DocumentGroup[] = [];
    for (const r of this.reflectors) {
      for (const [key, object] of r.objects) {
        if (r.info.kind === 'Pod' && !podHasAddress(object)) continue; // not yet scheduled and started: nothing to route to
        const origin = `${originPrefix(r)}/${key}`;
        const { managedFields: _managed, ...metadata } = object.metadata as Record<string, unknown>;
        groups.push({ origin, label: origin, docs: [{ file: origin, position: 'object', value: { ...object, metadata } }] });
      }
    }
    return groups;
  }

  watch(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  private async startReflector(info: KindInfo, version: string): Promise<void> {
    const reflector = new Reflector(this.api, info, version, this.logger, () => this.changed());
    // Held before it lists, so a stop() meanwhile (a CRD found by the retry while the destination
    // shuts down) reaches it and it never opens its watch; one that fails to list is let go.
    this.reflectors.push(reflector);
    try {
      await reflector.start();
    } catch (err) {
      this.reflectors.splice(this.reflectors.indexOf(reflector), 1);
      throw err;
    }
    if (this.stopped) return;
    this.logger.info({ kind: info.kind, apiVersion: reflector.apiVersion, objects: reflector.objects.size }, 'kubernetes watch started');
    this.changed();
  }

  private scheduleMissing(): void {
    if (this.missing.size === 0 || this.stopped) return;
    this.retryTimer = setTimeout(async () => {
      for (const info of [...this.missing]) {
        try {
          const version = await this.servedVersion(info);
          if (!version || this.stopped) continue;
          await this.startReflector(info, version);
          this.missing.delete(info);
        } catch (err) {
          this.logger.warn({ kind: info.kind, err: (err as Error).message }, 'kubernetes kind not watched yet');
        }
      }
      this.scheduleMissing();
    }, MISSING_KIND_RETRY_MS);
  }

  /** The first of `info.versions` the server serves with `info.plural`; undefined when none is (the CRD is not there). */
  private async servedVersion(info: KindInfo): Promise<string | undefined> {
    if (!info.group) return info.versions[0];
    for (const version of info.versions) {
      try {
        const list = await this.api.json<{ resources: Array<{ name: string }> }>('GET', `/apis/${info.group}/${version}`, { verb: 'get', resource: 'API discovery', group: info.group });
        if (list.resources.some((r) => r.name === info.plural)) return version;
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 'KUBE_NOT_FOUND') continue;
        throw err;
      }
    }
    return undefined;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

function originPrefix(r: Reflector): string {
  return r.info.group ? `${r.info.plural}.${r.info.group}` : r.info.plural;
}

function podHasAddress(pod: KubeObject): boolean {
  const status = (pod['status'] ?? {}) as { podIP?: string; phase?: string };
  return Boolean(status.podIP) && status.phase !== 'Succeeded' && status.phase !== 'Failed';
}
