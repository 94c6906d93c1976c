// The node's connection to the Kubernetes API: a kubeconfig, the typed clients the node uses, and
// the few shapes of call it makes (merge patches, `kubectl apply` for manifests, 404 as absent).
import { spawn } from 'node:child_process';
import { stringify } from 'yaml';
import * as k8s from '@kubernetes/client-node';
import { codedError } from '../../../../api/errors.ts';
import { loadKubeConfig } from '../../../../api/kube-config.ts';

/** `kubectl apply` of the node's objects failed; the message has kubectl's own words. */
export class KubeApiError extends codedError('KUBE_API') {}

export interface KubeApi {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  objects: k8s.KubernetesObjectApi;
  version: k8s.VersionApi;
}

/**
 * Connects with a kubeconfig file (the node's credentials; here the cluster's admin). A file that
 * cannot be loaded throws loadKubeConfig's KubeConfigError (code KUBE_CONFIG, naming the file) as is.
 */
export function connectKube(kubeconfigFile: string): KubeApi {
  const kc = loadKubeConfig(kubeconfigFile);
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), objects: k8s.KubernetesObjectApi.makeApiClient(kc), version: kc.makeApiClient(k8s.VersionApi) };
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
 * `kubectl apply -f -` of the objects, as a user applies `mesh install` and the demo's files.
 * kubectl, not the typed client: the client's serializer keeps only fields it has a model for,
 * and would drop `x-kubernetes-int-or-string` from a CRD's schema, or any field newer than it.
 */
export async function applyObjects(kubeconfig: string, objects: object[], where: string): Promise<void> {
  const yaml = objects.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
  const r = await new Promise<{ code: number; err: string }>((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve({ code: -1, err: `kubectl: ${e.message}` }));
    // 'close', not 'exit': all of stderr is read first.
    child.on('close', (code) => resolve({ code: code ?? -1, err }));
    child.stdin.end(yaml);
  });
  if (r.code !== 0) throw new KubeApiError(`${where}: kubectl apply failed (exit ${r.code}): ${r.err.trim()}`);
}
