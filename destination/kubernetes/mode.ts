// Kubernetes mode assembled: the API source the store reads, then what hangs off the store (the
// Pods as the registry, validation problems as Events). Imported only when --kubernetes is given.
import type { Logger } from 'pino';
import { KubeApi } from '../../api/kubernetes/kube-api.ts';
import type { PodRegistry } from '../index/pod-registry.ts';
import type { ResourceStore } from '../store/resource-store.ts';
import { ApiSource } from './api-source.ts';
import { ProblemEvents } from './events.ts';
import { PodFeed } from '../index/pod-feed.ts';

export interface KubernetesSource {
  source: ApiSource;
  /** Feeds the registry from the store's Pods and posts its problems as Events; close() stops both. */
  attach(store: ResourceStore, pods: PodRegistry, logger: Logger): { close(): void };
}

/** Connects and lists every kind once, so the first answers are complete; throws a clear error (unreachable, RBAC, bad kubeconfig). */
export async function startKubernetesSource(kubeconfig: string | undefined, logger: Logger): Promise<KubernetesSource> {
  const api = KubeApi.load(kubeconfig);
  const source = new ApiSource(api, logger);
  try {
    await source.start();
  } catch (err) {
    source.stop();
    throw err;
  }
  return {
    source,
    attach(store, pods, log) {
      const feed = new PodFeed(store, pods);
      const events = new ProblemEvents(api, source, store, log);
      return {
        close() {
          feed.close();
          events.close();
        },
      };
    },
  };
}
