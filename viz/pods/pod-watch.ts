// The registered pods, from the destination's Pods.WatchPods stream (api/destination.proto),
// presenting the viz's own certificate; reconnects with backoff and keeps the last list meanwhile.
import type { ClientReadableStream } from '@grpc/grpc-js';
import { ListWatch, type DestinationPeer } from '../watch/list-watch.ts';

export interface MeshPod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ip: string;
  identity: string;
  serviceAccount: string;
  /** The Deployment that owns the pod (see deploymentOf). */
  deployment: string;
}

/**
 * The owning Deployment's name: what the proxy announced, else the pod's name without its
 * replica suffix (`orders-stable-0`, or Kubernetes' `checkout-5d9f7c-x2x8k`).
 */
export function deploymentOf(name: string, announced: string | undefined): string {
  if (announced) return announced;
  const k8s = /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(name);
  if (k8s) return k8s[1]!;
  return name.replace(/-\d+$/, '');
}

/** A pod as Pods.WatchPods sends it (proto-loader leaves unset strings empty). */
interface WirePod {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  ip: string;
  identity: string;
  serviceAccount: string;
  deployment?: string;
}

function podFromWire(p: WirePod): MeshPod {
  const labels = { ...(p.labels ?? {}) };
  return { name: p.name, namespace: p.namespace, labels, ip: p.ip, identity: p.identity, serviceAccount: p.serviceAccount, deployment: deploymentOf(p.name, p.deployment) };
}

/** The registered pods, as the viz's views and scraper see them. */
export type PodWatch = ListWatch<{ pods?: WirePod[] }, MeshPod>;

export function watchPods(peer: DestinationPeer): PodWatch {
  return new ListWatch(peer, {
    name: 'pods',
    open: (stubs) => stubs.pods.watchPods({ namespace: '' }) as ClientReadableStream<{ pods?: WirePod[] }>,
    itemsOf: (list) => (list.pods ?? []).map(podFromWire),
  });
}
