// Kubernetes mode: the Pods the API holds are the registered pods (as Linkerd's destination reads
// pods from the API), each with its labels, IP, ports, readiness and, when it carries the mesh's
// proxy, the identity of its service account.
import { spiffeId } from '../../api/spiffe.ts';
import type { PodRegistry } from '../index/pod-registry.ts';
import type { ResourceSet } from '../store/resource-set.ts';
import type { ResourceStore } from '../store/resource-store.ts';

export class PodFeed {
  private registered: Array<() => void> = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: ResourceStore,
    private readonly pods: PodRegistry,
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
        ports: p.ports,
        inboundPort: p.inboundPort,
        serviceAccount: p.serviceAccount,
        identity: p.meshed ? spiffeId(this.store.trustDomain, p.meta.namespace, p.serviceAccount) : '',
        ready: p.ready ?? true,
      }),
    );
    for (const unregister of before) unregister();
  }
}
