// What the injector asks the Kubernetes API server: a pod's Namespace, for the linkerd.io/inject
// and config.linkerd.io/* annotations a webhook's namespaceSelector cannot read, and the server's
// version (native sidecars from 1.29).
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { askKube, loadKubeConfig } from '../api/kube-config.ts';

export interface ClusterFacts {
  lookupNamespace(namespace: string): Promise<Record<string, string> | undefined>;
  /** The server has native sidecars (restartable init containers, Kubernetes 1.29+). */
  nativeSidecars: boolean;
  version: string;
}

/** Connects (a kubeconfig, else the pod's in-cluster account) and reads the version once. */
export async function clusterFacts(kubeconfig?: string): Promise<ClusterFacts> {
  const config = loadKubeConfig(kubeconfig);
  const version = await askKube(config, 'get /version', () => config.makeApiClient(VersionApi).getCode());
  const core = config.makeApiClient(CoreV1Api);
  return {
    version: version.gitVersion,
    nativeSidecars: hasNativeSidecars(version.major, version.minor),
    async lookupNamespace(name) {
      const ns = await askKube(config, `get namespace ${name}`, () => core.readNamespace({ name }));
      return ns.metadata?.annotations ?? {};
    },
  };
}

/** Minor versions come as "20" or "20+" (some distributions): the leading digits are the version. */
export function hasNativeSidecars(major: string, minor: string): boolean {
  return major === '1' && Number.parseInt(minor, 10) >= 29;
}
