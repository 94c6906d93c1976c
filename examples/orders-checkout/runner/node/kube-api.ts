// The node's connection to the Kubernetes API: a kubeconfig, the typed clients the node uses, and
// the few shapes of call it makes (merge patches, "create or patch" for manifests, 404 as absent).
import * as k8s from '@kubernetes/client-node';
import { CodedError } from '../../../../api/errors.ts';

export class KubeApiError extends CodedError<'KUBE_API'> {
  constructor(message: string, options?: ErrorOptions) {
    super('KUBE_API', message, options);
  }
}

export interface KubeApi {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  objects: k8s.KubernetesObjectApi;
}

/** Connects with a kubeconfig file (the node's credentials; here the cluster's admin). */
export function connectKube(kubeconfigFile: string): KubeApi {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromFile(kubeconfigFile);
  } catch (err) {
    throw new KubeApiError(`kubeconfig ${kubeconfigFile}: ${(err as Error).message}`, { cause: err });
  }
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), objects: k8s.KubernetesObjectApi.makeApiClient(kc) };
}

/** Options that send a body as a JSON merge patch (RFC 7386), what `kubectl patch --type merge` sends. */
export const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The HTTP status of a failed call, when the server answered. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** The server's own words for a failed call (its Status message), else the client's. */
export function reasonOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      // not JSON: fall through
    }
  }
  return (err as Error).message ?? String(err);
}

/**
 * Creates each object, or merge-patches it when it exists (what `kubectl apply` does for objects
 * it created, minus the three-way merge). Objects go in order: a Namespace before what it holds.
 */
export async function applyObjects(api: KubeApi, objects: k8s.KubernetesObject[], where: string): Promise<void> {
  for (const obj of objects) {
    const id = `${obj.kind}/${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}`;
    try {
      try {
        await api.objects.create(obj);
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
        await api.objects.patch(obj, undefined, undefined, 'mesh-node', undefined, k8s.PatchStrategy.MergePatch);
      }
    } catch (err) {
      throw new KubeApiError(`${where}: ${id}: ${reasonOf(err)}`, { cause: err });
    }
  }
}
