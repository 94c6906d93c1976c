// Validation problems as Kubernetes Events on the object that has them (`kubectl describe` shows
// them), once per problem: the store already logs each one.
import type { Logger } from 'pino';
import type { KubeApi } from '../../api/kubernetes/kube-api.ts';
import type { ResourceStore } from '../store/resource-store.ts';
import type { ApiSource } from './api-source.ts';

const COMPONENT = 'mesh-destination';

export class ProblemEvents {
  private readonly posted = new Set<string>();
  private readonly unsubscribe: () => void;
  private refusedOnce = false;

  constructor(
    private readonly api: KubeApi,
    private readonly source: ApiSource,
    private readonly store: ResourceStore,
    private readonly logger: Logger,
  ) {
    this.unsubscribe = store.onChange(() => this.post());
    this.post(); // the store's first load came before this
  }

  close(): void {
    this.unsubscribe();
  }

  private post(): void {
    const seen = new Set<string>();
    for (const state of this.store.states()) {
      if (state.state === 'applied') continue;
      const found = this.source.objectAt(state.file);
      if (!found) continue;
      const uid = found.object.metadata.uid ?? '';
      for (const problem of state.problems) {
        // Keyed by the spec's generation, not the resourceVersion: a status update of a refused
        // object (a Pod's, every few seconds) is not news, an edit of its spec is.
        const key = `${uid}|${found.object.metadata.generation ?? found.object.metadata.resourceVersion ?? ''}|${problem}`;
        seen.add(key);
        if (this.posted.has(key)) continue;
        this.posted.add(key);
        void this.send(found.apiVersion, found.kind, found.object.metadata, state.state === 'refused' ? 'Rejected' : 'Warning', problem);
      }
    }
    for (const key of this.posted) if (!seen.has(key)) this.posted.delete(key);
  }

  private async send(apiVersion: string, kind: string, md: { name: string; namespace?: string; uid?: string; resourceVersion?: string }, reason: string, message: string): Promise<void> {
    const namespace = md.namespace ?? 'default';
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${md.name}.`, namespace },
      involvedObject: { apiVersion, kind, name: md.name, namespace, uid: md.uid, resourceVersion: md.resourceVersion },
      reason,
      message: reason === 'Rejected' ? `${message} (the mesh ignores this version)` : message,
      type: 'Warning',
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.api.json('POST', `/api/v1/namespaces/${namespace}/events`, { verb: 'create', resource: 'events', group: '', namespace }, event);
    } catch (err) {
      if (this.refusedOnce) return;
      this.refusedOnce = true;
      this.logger.warn({ err: (err as Error).message }, 'cannot record validation problems as Kubernetes Events (they stay in the log)');
    }
  }
}
