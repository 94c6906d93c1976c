// Warnings that depend on which pods are registered: a Server whose podSelector (and port)
// matches no registered pod protects nothing. Pods come and go by registration, so this is
// judged once things settle after a change, and each new warning is logged once.
import type { Logger } from 'pino';
import type { ResourceStore } from '../store/resource-store.ts';
import type { ResourceSet } from '../store/resource-set.ts';
import { labelsMatch, type ServerResource } from '../store/resources.ts';
import type { PodRegistry, RegisteredPod } from './pod-registry.ts';

export function podWarnings(set: ResourceSet, pods: readonly RegisteredPod[]): string[] {
  const out: string[] = [];
  for (const server of set.ofKind('Server')) {
    const { file, namespace, name } = server.meta;
    const selected = pods.filter((p) => p.namespace === namespace && labelsMatch(server.podSelector, p.labels));
    if (selected.length === 0) {
      out.push(`${file}: Server ${namespace}/${name}: spec.podSelector: selects no registered pod in namespace ${namespace}; the Server protects nothing`);
    } else if (typeof server.port === 'string' && !selected.some((p) => hasNamedPort(server, p))) {
      out.push(`${file}: Server ${namespace}/${name}: spec.port: no pod it selects has a port named ${server.port}; the Server protects nothing`);
    }
  }
  return out;
}

function hasNamedPort(server: ServerResource, pod: RegisteredPod): boolean {
  return pod.ports.some((p) => p.name === server.port);
}

/** Logs each new pod-dependent warning once, `settleMs` after the last change. */
export class PodWarnings {
  private timer: NodeJS.Timeout | undefined;
  private said = new Set<string>();
  private latest: string[] = [];
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly store: ResourceStore,
    private readonly pods: PodRegistry,
    private readonly logger: Logger,
    private readonly settleMs: number,
  ) {
    this.unsubscribe = [store.onChange(() => this.schedule()), pods.onChange(() => this.schedule())];
    this.schedule();
  }

  /** The warnings as last judged. */
  current(): string[] {
    return this.latest;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.judge(), this.settleMs);
    this.timer.unref();
  }

  private judge(): void {
    this.latest = podWarnings(this.store.resources, this.pods.all());
    const now = new Set(this.latest);
    for (const message of this.latest) if (!this.said.has(message)) this.logger.warn({ problem: message }, 'resource warning');
    this.said = now; // a warning that went away and comes back is said again
  }

  close(): void {
    clearTimeout(this.timer);
    for (const u of this.unsubscribe) u();
  }
}
