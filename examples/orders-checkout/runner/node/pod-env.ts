// A container's environment as the kubelet builds it: envFrom, then env in order, each `$(VAR)`
// expanded from the variables defined before it (`$$` is a literal `$`), values from the downward
// API (fieldRef), ConfigMaps and Secrets; plus KUBERNETES_SERVICE_HOST/PORT for in-cluster clients.
import type * as k8s from '@kubernetes/client-node';
import type { KubeApi } from './kube-api.ts';
import { reasonOf } from './kube-api.ts';
import { codedError } from '../../../../api/errors.ts';

export class EnvError extends codedError('POD_ENV') {}

/** The node's answer to a downward-API field path. */
export function fieldValue(pod: k8s.V1Pod, podIp: string, path: string): string {
  const m = path.match(/^metadata\.(labels|annotations)\['(.+)'\]$/);
  if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata?.name ?? '';
    case 'metadata.namespace': return pod.metadata?.namespace ?? '';
    case 'metadata.uid': return pod.metadata?.uid ?? '';
    case 'metadata.labels': return Object.entries(pod.metadata?.labels ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'metadata.annotations': return Object.entries(pod.metadata?.annotations ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP': return '127.0.0.1';
    case 'status.podIP': case 'status.podIPs': return podIp;
    default: throw new EnvError(`fieldRef ${JSON.stringify(path)}: not a field the downward API offers`);
  }
}

/** Expands `$(NAME)` from `defined`; an unknown name stays as written, as Kubernetes leaves it. */
export function expand(text: string, defined: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (name === undefined) return '$';
    return Object.hasOwn(defined, name) ? defined[name]! : all;
  });
}

export interface ApiServerAddress {
  host: string;
  port: number;
}

export async function containerEnv(api: KubeApi, pod: k8s.V1Pod, c: k8s.V1Container, podIp: string, apiServer: ApiServerAddress): Promise<Record<string, string>> {
  const ns = pod.metadata!.namespace!;
  const at = `container ${c.name}`;
  // In a cluster these name the `kubernetes` Service's ClusterIP; with no kube-proxy here, the API server itself.
  const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: apiServer.host, KUBERNETES_SERVICE_PORT: String(apiServer.port), KUBERNETES_SERVICE_PORT_HTTPS: String(apiServer.port) };
  const data = async (kind: 'configmap' | 'secret', name: string, optional: boolean | undefined): Promise<Record<string, string> | undefined> => {
    try {
      if (kind === 'configmap') return (await api.core.readNamespacedConfigMap({ name, namespace: ns })).data ?? {};
      const secret = await api.core.readNamespacedSecret({ name, namespace: ns });
      return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    } catch (err) {
      if (optional) return undefined;
      throw new EnvError(`${at}: ${kind} "${name}": ${reasonOf(err)}`, { cause: err });
    }
  };
  for (const from of c.envFrom ?? []) {
    const source = from.configMapRef ? await data('configmap', from.configMapRef.name!, from.configMapRef.optional) : from.secretRef ? await data('secret', from.secretRef.name!, from.secretRef.optional) : undefined;
    for (const [k, v] of Object.entries(source ?? {})) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined || !e.valueFrom) {
      env[e.name] = expand(e.value ?? '', env);
      continue;
    }
    const f = e.valueFrom;
    if (f.fieldRef) env[e.name] = fieldValue(pod, podIp, f.fieldRef.fieldPath);
    else if (f.configMapKeyRef) {
      const v = (await data('configmap', f.configMapKeyRef.name!, f.configMapKeyRef.optional))?.[f.configMapKeyRef.key];
      if (v !== undefined) env[e.name] = v;
      else if (!f.configMapKeyRef.optional) throw new EnvError(`${at}: env ${e.name}: configmap "${f.configMapKeyRef.name}" has no key "${f.configMapKeyRef.key}"`);
    } else if (f.secretKeyRef) {
      const v = (await data('secret', f.secretKeyRef.name!, f.secretKeyRef.optional))?.[f.secretKeyRef.key];
      if (v !== undefined) env[e.name] = v;
      else if (!f.secretKeyRef.optional) throw new EnvError(`${at}: env ${e.name}: secret "${f.secretKeyRef.name}" has no key "${f.secretKeyRef.key}"`);
    } else throw new EnvError(`${at}: env ${e.name}: valueFrom ${Object.keys(f).join(', ')} is not made by this node (it makes fieldRef, configMapKeyRef, secretKeyRef)`);
  }
  return env;
}
