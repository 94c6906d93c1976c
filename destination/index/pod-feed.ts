// Pods that come as resources are registered pods: in Kubernetes mode the API's Pods (as Linkerd's
// destination reads pods from the API), in development mode the Pods of the proxy's folder. Each
// with its labels, IP, ports, readiness and, when it carries the mesh's proxy, the identity of its
// service account.
import { spiffeId } from '../../api/spiffe.ts';
import type { PodRegistry } from './pod-registry.ts';
import type { ResourceSet } from '../store/resource-set.ts';
import type { ResourceStore } from '../store/resource-store.ts';

export interface PodFeedOptions {
  /** A Pod written in a file carries no injector's annotation: take every one as meshed (development mode). */
  everyPodMeshed?: boolean;
}

export class PodFeed {
  private registered: Array<() => void> = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: ResourceStore,
    private readonly pods: PodRegistry,
    private readonly options: PodFeedOptions = {},
  ) {
    this.unsubscribe = store.onChange((set) => this.sync(set));
    this.sync(store.resources);
  }

  close(): void {
    this.unsubscribe();
    for (const unregister of this.registered) unregister();
    this.registered = [];
  }

  /** Registers every Pod of the set; a newer registration of the same pod replaces the old one, so the old removal is a no-op. */
  private sync(set: ResourceSet): void {
    const before = this.registered;
    this.registered = set.ofKind('Pod').map((p) =>
      this.pods.register({
        name: p.meta.name,
        namespace: p.meta.namespace,
        labels: p.meta.labels,
        ip: p.ip,
        ...(p.otherIps.length > 0 ? { otherIps: p.otherIps } : {}),
        ports: p.ports,
        inboundPort: p.inboundPort,
        serviceAccount: p.serviceAccount,
        identity: p.meshed || this.options.everyPodMeshed ? spiffeId(this.store.trustDomain, p.meta.namespace, p.serviceAccount) : '',
        ready: p.ready ?? true,
      }),
    );
    for (const unregister of before) unregister();
  }
}
