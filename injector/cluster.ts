// What the injector asks the Kubernetes API server: a pod's Namespace (its linkerd.io/inject and
// config.linkerd.io/* annotations, which a webhook's namespaceSelector cannot read), and the
// server's version (native sidecars from 1.29).
import { KubeApi } from '../api/kubernetes/kube-api.ts';

export interface ClusterFacts {
  lookupNamespace(namespace: string): Promise<Record<string, string> | undefined>;
  /** The server has native sidecars (restartable init containers, Kubernetes 1.29+). */
  nativeSidecars: boolean;
  version: string;
}

/** Connects (kubeconfig, else in-cluster) and reads the version once; throws naming what failed. */
export async function clusterFacts(kubeconfig?: string): Promise<ClusterFacts> {
  const api = KubeApi.load(kubeconfig);
  const version = await api.json<{ major?: string; minor?: string; gitVersion?: string }>('GET', '/version', { verb: 'get', resource: 'version', group: '' });
  // Minor versions come as "20" or "20+" (some distributions): the leading digits are the version.
  const minor = Number.parseInt(version.minor ?? '', 10);
  return {
    version: version.gitVersion ?? `${version.major}.${version.minor}`,
    nativeSidecars: version.major === '1' && minor >= 29,
    async lookupNamespace(namespace) {
      const ns = await api.json<{ metadata?: { annotations?: Record<string, string> } }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`, {
        verb: 'get',
        resource: 'namespaces',
        group: '',
      });
      return ns.metadata?.annotations ?? {};
    },
  };
}
