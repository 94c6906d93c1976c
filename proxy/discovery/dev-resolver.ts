// Development mode: a Resolver answered in this process from Kubernetes YAML (a file or a folder),
// read and indexed as the destination does, with the Pods in it standing for registrations.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { CodedError } from '../../api/errors.ts';
import type { DefaultPolicy, EndpointSet, InboundPolicy, Profile } from '../../api/destination-types.ts';
// Dev mode is the destination run in-process: one reading of the resources, not a second schema.
import { DEFAULT_CLUSTER_NETWORKS, Discovery } from '../../destination/index/discovery.ts';
import type { EndpointView } from '../../destination/index/endpoint-view.ts';
import type { ViewWatch } from '../../destination/index/view-hub.ts';
import { PodFeed } from '../../destination/index/pod-feed.ts';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import type { Resolver } from './resolver.ts';
import { Watched } from './watched.ts';

/** The resources could not be read at start; the message names each file, resource and field. */
export class DevResourcesError extends CodedError<'DEV_RESOURCES_INVALID'> {
  override readonly name = 'DevResourcesError';
  constructor(message: string, options?: ErrorOptions) {
    super('DEV_RESOURCES_INVALID', message, options);
  }
}

export interface DevResolverOptions {
  /** This proxy's address: its own Pod is the one whose `status.podIP` it is (inbound policy). */
  podIp: string;
  /** This proxy's namespace: short names (`orders:8080`) resolve against it. */
  namespace?: string;
  /** Names this proxy's own Pod when several share its address. */
  podName?: string;
  trustDomain?: string;
  clusterDomain?: string;
  /** Policy for ports no Server selects (default all-unauthenticated). */
  defaultPolicy?: DefaultPolicy;
  clusterNetworks?: string[];
  logger: Logger;
  /** Quiet period after a change before reloading (default the destination's 75 ms). */
  debounceMs?: number;
}

export class DevResolver implements Resolver {
  readonly path: string;
  private readonly store: ResourceStore;
  private readonly discovery: Discovery;
  private readonly cells = new Map<string, { cell: unknown; stop(): void }>();
  private readonly podFeed: PodFeed;
  private readonly trustDomain: string;

  /** Reads the resources now; throws DevResourcesError naming every bad file, resource and field. */
  constructor(
    path: string,
    private readonly options: DevResolverOptions,
  ) {
    this.path = resolve(path);
    this.trustDomain = options.trustDomain ?? 'cluster.local';
    this.store = new ResourceStore({ dir: this.path, pods: true, trustDomain: this.trustDomain, clusterDomain: options.clusterDomain, logger: options.logger, debounceMs: options.debounceMs });
    this.discovery = new Discovery(this.store, {
      defaultPolicy: options.defaultPolicy ?? 'all-unauthenticated',
      clusterNetworks: options.clusterNetworks ?? DEFAULT_CLUSTER_NETWORKS,
    });
    // Every load registers the Pods it holds, as their proxies would; Pods gone are unregistered.
    this.podFeed = new PodFeed(this.store, this.discovery.pods, { everyPodMeshed: true });
    let watchError: Error | undefined;
    try {
      this.store.start();
    } catch (err) {
      watchError = err as Error;
    }
    const errors = this.store.problems().filter((p) => p.severity === 'error').map((p) => p.message);
    if (errors.length === 0 && watchError) errors.push(`${this.path}: cannot watch: ${watchError.message}`);
    if (errors.length > 0) {
      this.close();
      throw new DevResourcesError(errors.join('\n'), { cause: watchError });
    }
  }

  endpoints(authority: string): Watched<EndpointSet> {
    // As the destination client reads it: a name that does not exist is forwarded as named.
    const toSet = (v: EndpointView): EndpointSet => (v.exists ? { kind: 'endpoints', endpoints: v.endpoints } : { kind: 'unknown' });
    return this.cell(`endpoints|${authority}`, (listener) => this.discovery.watchEndpoints(authority, this.options.namespace ?? '', listener), toSet, {
      kind: 'unknown',
    });
  }

  profile(authority: string): Watched<Profile> {
    return this.cell<Profile, Profile>(`profile|${authority}`, (listener) => this.discovery.watchProfile(authority, this.options.namespace ?? '', listener), (p) => p, {
      fqdn: '',
      routes: [],
      httpRoutes: [],
    });
  }

  inboundPolicy(port: number): Watched<InboundPolicy> {
    const own = this.ownPod();
    return this.cell<InboundPolicy, InboundPolicy>(`policy|${port}`, (listener) => this.discovery.watchPolicy(own.namespace, own.name, port, undefined, listener), (p) => p, {
      port,
      authorizations: [],
      defaultPolicy: this.options.defaultPolicy ?? 'all-unauthenticated',
      clusterNetworks: this.options.clusterNetworks ?? DEFAULT_CLUSTER_NETWORKS,
    });
  }

  close(): void {
    for (const { stop } of this.cells.values()) stop();
    this.cells.clear();
    this.podFeed.close();
    this.discovery.close();
    this.store.stop();
  }

  /**
   * One live cell per key, fed by the destination's shared view. An authority that is not
   * `host[:port]` (AuthorityError) gets `fallback`: outbound then forwards to it as named.
   */
  private cell<V, T>(key: string, watch: (listener: (v: V) => void) => ViewWatch<V>, map: (v: V) => T, fallback: T): Watched<T> {
    const found = this.cells.get(key);
    if (found) return found.cell as Watched<T>;
    let cell: Watched<T>;
    let stop = () => {};
    try {
      const view = watch((v) => cell.set(map(v)));
      cell = new Watched(map(view.current));
      stop = view.stop;
    } catch {
      cell = new Watched(fallback);
    }
    this.cells.set(key, { cell, stop });
    return cell;
  }

  /** This proxy's own Pod: by --pod-name when given, else the Pod at its address. */
  private ownPod(): { namespace: string; name: string } {
    const namespace = this.options.namespace ?? 'default';
    if (this.options.podName) return { namespace, name: this.options.podName };
    const pod = this.discovery.pods.byIp(this.options.podIp);
    return pod ? { namespace: pod.namespace, name: pod.name } : { namespace, name: this.options.podIp };
  }
}
