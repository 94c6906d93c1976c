// A pod's volumes, made the way the kubelet makes them: each volume a folder of files on the node
// (STATE/node/pods/<uid>/volumes/<name>) that pod-sandbox.ts mounts where the container asks.
// Supported: configMap, secret, projected (serviceAccountToken through the TokenRequest API,
// configMap, secret, downwardAPI), downwardAPI, emptyDir. Anything else is refused by name.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { KubeApi } from './kube-api.ts';
import { reasonOf } from './kube-api.ts';
import { fieldValue } from './pod-env.ts';
import { codedError } from '../../../../api/errors.ts';

export class VolumeError extends codedError('POD_VOLUME') {}

/** Writes every volume of the pod under `dir`; returns each volume's folder by name. */
export async function makeVolumes(api: KubeApi, pod: k8s.V1Pod, podIp: string, dir: string): Promise<Map<string, string>> {
  const made = new Map<string, string>();
  const ns = pod.metadata!.namespace!;
  for (const v of pod.spec?.volumes ?? []) {
    const folder = join(dir, v.name);
    mkdirSync(folder, { recursive: true });
    const at = `volume ${v.name}`;
    try {
      if (v.configMap) await writeConfigMap(api, ns, v.configMap.name!, v.configMap.items, folder, v.configMap.optional);
      else if (v.secret) await writeSecret(api, ns, v.secret.secretName!, v.secret.items, folder, v.secret.optional);
      else if (v.downwardAPI) writeDownward(pod, podIp, v.downwardAPI.items ?? [], folder);
      else if (v.emptyDir) { /* the folder is the volume */ }
      else if (v.projected) {
        for (const source of v.projected.sources ?? []) {
          if (source.serviceAccountToken) await writeToken(api, pod, source.serviceAccountToken, folder);
          else if (source.configMap) await writeConfigMap(api, ns, source.configMap.name!, source.configMap.items, folder, source.configMap.optional);
          else if (source.secret) await writeSecret(api, ns, source.secret.name!, source.secret.items, folder, source.secret.optional);
          else if (source.downwardAPI) writeDownward(pod, podIp, source.downwardAPI.items ?? [], folder);
          else throw new VolumeError(`${at}: a projected source of a kind this node does not make (${Object.keys(source).join(', ')})`);
        }
      } else throw new VolumeError(`${at}: a kind this node does not make (${Object.keys(v).filter((k) => k !== 'name').join(', ')}); it makes configMap, secret, projected, downwardAPI and emptyDir`);
    } catch (err) {
      if (err instanceof VolumeError) throw err;
      throw new VolumeError(`${at}: ${reasonOf(err)}`, { cause: err });
    }
    made.set(v.name, folder);
  }
  return made;
}

function writeFiles(folder: string, files: Record<string, Buffer>, items: Array<{ key: string; path: string }> | undefined): void {
  const chosen = items && items.length > 0 ? items.map((i) => [i.path, files[i.key]] as const) : Object.entries(files);
  for (const [path, data] of chosen) {
    if (data === undefined) continue;
    const file = join(folder, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
  }
}

type Items = Array<{ key: string; path: string }> | undefined;

const writeConfigMap = (api: KubeApi, namespace: string, name: string, items: Items, folder: string, optional?: boolean) =>
  writeKeys(`configmap "${name}" in ${namespace}`, folder, items, optional, async () => {
    const cm = await api.core.readNamespacedConfigMap({ name, namespace });
    const files: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(cm.data ?? {})) files[k] = Buffer.from(v);
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) files[k] = Buffer.from(v, 'base64');
    return files;
  });

const writeSecret = (api: KubeApi, namespace: string, name: string, items: Items, folder: string, optional?: boolean) =>
  writeKeys(`secret "${name}" in ${namespace}`, folder, items, optional, async () => {
    const secret = await api.core.readNamespacedSecret({ name, namespace });
    const files: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(secret.data ?? {})) files[k] = Buffer.from(v, 'base64');
    return files;
  });

/** An object's keys as files; an optional object that cannot be read is no volume, a required one an error naming it. */
async function writeKeys(what: string, folder: string, items: Items, optional: boolean | undefined, read: () => Promise<Record<string, Buffer>>): Promise<void> {
  let files: Record<string, Buffer>;
  try {
    files = await read();
  } catch (err) {
    if (optional) return;
    throw new VolumeError(`${what}: ${reasonOf(err)}`, { cause: err });
  }
  writeFiles(folder, files, items);
}

/** A projected service-account token: asked of the API server (TokenRequest), bound to the pod, as the kubelet does. */
async function writeToken(api: KubeApi, pod: k8s.V1Pod, source: k8s.V1ServiceAccountTokenProjection, folder: string): Promise<void> {
  const sa = pod.spec?.serviceAccountName || 'default';
  const answer = await api.core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: pod.metadata!.namespace!,
    body: {
      spec: {
        audiences: source.audience ? [source.audience] : [],
        expirationSeconds: source.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
      },
    },
  });
  const token = answer.status?.token;
  if (!token) throw new VolumeError(`service account ${sa}: the TokenRequest answer holds no token`);
  writeFiles(folder, { [source.path]: Buffer.from(token) }, undefined);
}

function writeDownward(pod: k8s.V1Pod, podIp: string, items: k8s.V1DownwardAPIVolumeFile[], folder: string): void {
  const files: Record<string, Buffer> = {};
  for (const item of items) {
    if (!item.fieldRef) throw new VolumeError(`downwardAPI ${item.path}: only fieldRef is made here`);
    files[item.path] = Buffer.from(fieldValue(pod, podIp, item.fieldRef.fieldPath));
  }
  writeFiles(folder, files, undefined);
}
