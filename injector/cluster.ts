// What the injector asks the Kubernetes API server (through @kubernetes/client-node): a pod's
// Namespace, for the linkerd.io/inject and config.linkerd.io/* annotations a webhook's
// namespaceSelector cannot read, and the server's version (native sidecars from 1.29).
import { existsSync } from 'node:fs';
import { ApiException, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { InjectorError } from './errors.ts';

export interface ClusterFacts {
  lookupNamespace(namespace: string): Promise<Record<string, string> | undefined>;
  /** The server has native sidecars (restartable init containers, Kubernetes 1.29+). */
  nativeSidecars: boolean;
  version: string;
}

/** Connects (a kubeconfig, else the pod's in-cluster account) and reads the version once. */
export async function clusterFacts(kubeconfig?: string): Promise<ClusterFacts> {
  const config = new KubeConfig();
  try {
    if (kubeconfig) {
      if (!existsSync(kubeconfig)) throw new Error(`${kubeconfig}: no such file`);
      config.loadFromFile(kubeconfig);
    } else config.loadFromCluster();
  } catch (err) {
    throw new InjectorError('KUBE_API', `kubeconfig ${kubeconfig ?? '(in-cluster)'}: ${(err as Error).message}`, { cause: err });
  }
  const server = config.getCurrentCluster()?.server ?? '(no server)';
  const version = await ask(server, 'get /version', () => config.makeApiClient(VersionApi).getCode());
  const core = config.makeApiClient(CoreV1Api);
  // Minor versions come as "20" or "20+" (some distributions): the leading digits are the version.
  const minor = Number.parseInt(version.minor, 10);
  return {
    version: version.gitVersion,
    nativeSidecars: version.major === '1' && minor >= 29,
    async lookupNamespace(name) {
      const ns = await ask(server, `get namespace ${name}`, () => core.readNamespace({ name }));
      return ns.metadata?.annotations ?? {};
    },
  };
}

/** One request; a refusal says which request, which server, and the status with the server's own reason. */
async function ask<T>(server: string, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiException) {
      const body = typeof err.body === 'string' ? safeReason(err.body) : '';
      throw new InjectorError('KUBE_API', `${what} at ${server}: HTTP ${err.code}${body ? `: ${body}` : ''}`, { cause: err });
    }
    throw new InjectorError('KUBE_API', `${what} at ${server}: ${(err as Error).message}`, { cause: err });
  }
}

/** The Status object's message (`namespaces "x" is forbidden: User ... cannot get ...`), else nothing. */
function safeReason(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    return typeof status.message === 'string' ? status.message : '';
  } catch {
    return '';
  }
}
