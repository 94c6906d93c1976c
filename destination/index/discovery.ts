// The destination's live model: resources from the store plus registered pods, answered as
// watchable views of endpoints, profiles and inbound policy that update on every change.
import type { DefaultPolicy, InboundPolicy, Profile } from '../../api/destination-types.ts';
import type { ResourceStore } from '../store/resource-store.ts';
import { resolveAuthority } from './authority.ts';
import { endpointsFor, type EndpointView } from './endpoint-view.ts';
import { PodRegistry } from './pod-registry.ts';
import { policyFor } from './policy-view.ts';
import { profileFor } from './profile-view.ts';
import { ViewHub, type ViewWatch } from './view-hub.ts';

/** Loopback (this mesh's pods on one machine), the private ranges, carrier-grade NAT, IPv6 ULA. */
export const DEFAULT_CLUSTER_NETWORKS = ['127.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '172.16.0.0/12', '192.168.0.0/16', 'fd00::/8'];

export interface DiscoverySettings {
  /** Default inbound policy for ports no Server selects, unless the proxy names its own. */
  defaultPolicy: DefaultPolicy;
  clusterNetworks: string[];
  /**
   * After a (re)start, registered pods are still reconnecting: for this long, a watcher whose
   * service looks empty is told nothing yet, so proxies keep their last endpoints instead of
   * failing requests until every replica has re-registered.
   */
  registrationGraceMs?: number;
  /**
   * A policy watch for a pod that has not registered yet waits this long for it (default 3 s):
   * a Server's rules depend on the pod's labels, and sending the default policy first would
   * open a window where a port protected by a Server falls back to, say, all-unauthenticated.
   */
  policyHoldMs?: number;
}

export class Discovery {
  readonly pods = new PodRegistry();
  private readonly endpointHub = new ViewHub<EndpointView>();
  private readonly profileHub = new ViewHub<Profile>();
  private readonly policyHub = new ViewHub<InboundPolicy>();
  private refreshQueued = false;
  private readonly unsubscribe: Array<() => void>;
  private readonly startedMs = Date.now();

  constructor(
    private readonly store: ResourceStore,
    private readonly settings: DiscoverySettings,
  ) {
    this.unsubscribe = [store.onChange(() => this.queueRefresh()), this.pods.onChange(() => this.queueRefresh())];
  }

  /** Throws AuthorityError for an authority that is not `host[:port]`. */
  watchEndpoints(authority: string, contextNamespace: string, listener: (v: EndpointView) => void): ViewWatch<EndpointView> {
    const target = resolveAuthority(authority, contextNamespace, this.store.clusterDomain);
    return this.endpointHub.watch(JSON.stringify(target), () => endpointsFor(target, this.store.resources, this.pods), listener);
  }

  watchProfile(authority: string, contextNamespace: string, listener: (v: Profile) => void): ViewWatch<Profile> {
    const target = resolveAuthority(authority, contextNamespace, this.store.clusterDomain);
    const key = `${JSON.stringify(target)}|${contextNamespace}`;
    return this.profileHub.watch(key, () => profileFor(target, this.store.resources, contextNamespace, this.store.clusterDomain, this.pods), listener);
  }

  watchPolicy(namespace: string, podName: string, port: number, defaultPolicy: DefaultPolicy | undefined, listener: (v: InboundPolicy) => void): ViewWatch<InboundPolicy> {
    const settings = this.policySettings(defaultPolicy);
    const key = `${namespace}/${podName}:${port}|${settings.defaultPolicy}`;
    return this.policyHub.watch(key, () => policyFor(this.pods.get(namespace, podName), port, this.store.resources, settings), listener);
  }

  /** The policy now, computed directly (not from the shared view, which refreshes a tick later). */
  policyNow(namespace: string, podName: string, port: number, defaultPolicy: DefaultPolicy | undefined): InboundPolicy {
    return policyFor(this.pods.get(namespace, podName), port, this.store.resources, this.policySettings(defaultPolicy));
  }

  /** The proxy's own default policy wins over the destination's. */
  private policySettings(defaultPolicy: DefaultPolicy | undefined) {
    return { defaultPolicy: defaultPolicy ?? this.settings.defaultPolicy, clusterNetworks: this.settings.clusterNetworks, trustDomain: this.store.trustDomain };
  }

  get policyHoldMs(): number {
    return this.settings.policyHoldMs ?? 3_000;
  }

  /** Milliseconds left of the registration grace period (0 once over). */
  graceLeftMs(): number {
    return Math.max(0, this.startedMs + (this.settings.registrationGraceMs ?? 5_000) - Date.now());
  }

  /** Many pod events arrive together (a restart re-registers everything): recompute once for them. */
  private queueRefresh(): void {
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    setImmediate(() => {
      this.refreshQueued = false;
      this.endpointHub.refresh();
      this.profileHub.refresh();
      this.policyHub.refresh();
    });
  }

  close(): void {
    for (const u of this.unsubscribe) u();
  }
}
