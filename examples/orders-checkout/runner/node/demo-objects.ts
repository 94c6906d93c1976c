// What the demo puts into the cluster besides its files: the `production` namespace (opted into
// injection), a ServiceAccount per workload, and the front door, a Deployment whose one container
// is the injector's own proxy container in ingress mode (the runner places the ingress, as
// `linkerd install` places its own components; the local runner does the same).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { defaultInjectOptions } from '../../../../injector/options.ts';
import { proxyContainer, proxyVolumes } from '../../../../injector/sidecar.ts';
import { ingressDefaultDst } from '../topology.ts';
import { codedError } from '../../../../api/errors.ts';

export class DemoObjectsError extends codedError('DEMO_OBJECTS') {}

export const DEMO_NAMESPACE = 'production';

/** Every YAML document of the folder's files, in file order, as written. */
export function readManifests(dir: string): KubernetesObject[] {
  const out: KubernetesObject[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new DemoObjectsError(`${join(dir, file)}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as KubernetesObject | null;
      if (obj) out.push(obj);
    }
  }
  return out;
}

export function namespaceAndAccounts(workloads: KubernetesObject[]): KubernetesObject[] {
  const accounts = new Set(['ingress']);
  for (const w of workloads) {
    const sa = (w as { spec?: { template?: { spec?: { serviceAccountName?: string } } } }).spec?.template?.spec?.serviceAccountName;
    if (sa) accounts.add(sa);
  }
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE, annotations: { 'linkerd.io/inject': 'enabled' } } } as KubernetesObject,
    ...[...accounts].map((name) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: DEMO_NAMESPACE } }) as KubernetesObject),
  ];
}

/**
 * The front door: `mesh proxy --ingress` as the injector writes it (mode `ingress`), with its
 * outbound listener on 127.0.0.1:8000 for users and checkout as the default destination.
 */
export function ingressDeployment(): KubernetesObject {
  const options = defaultInjectOptions();
  const labels = { app: 'ingress' };
  const proxy = proxyContainer(options.proxy, 'ingress', { labels, ports: [], deployment: 'ingress' }, options);
  const env = (proxy.env ?? []).filter((e) => e.name !== 'MESH_PROXY_OUTBOUND_PORT');
  env.push({ name: 'MESH_PROXY_OUTBOUND_IP', value: '127.0.0.1' }, { name: 'MESH_PROXY_OUTBOUND_PORT', value: '8000' }, { name: 'MESH_PROXY_INGRESS_DEFAULT_DST', value: ingressDefaultDst });
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'ingress', namespace: DEMO_NAMESPACE },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        // Already carries its proxy: the webhook leaves it as it is ("already injected").
        metadata: { labels, annotations: { 'linkerd.io/inject': 'ingress' } },
        spec: { serviceAccountName: 'ingress', containers: [{ ...proxy, env }], volumes: proxyVolumes(options) },
      },
    },
  } as KubernetesObject;
}

/**
 * Kubernetes 1.20 (the API server built here) has no gRPC probes (they came in 1.24): its schema
 * refuses the field. Such a probe becomes a tcpSocket probe of the same port, and a note says so.
 * On a server that has them nothing changes.
 */
export function withoutGrpcProbes(workloads: KubernetesObject[]): { objects: KubernetesObject[]; notes: string[] } {
  const notes: string[] = [];
  const objects = workloads.map((w) => {
    const copy = structuredClone(w) as KubernetesObject & { spec?: { template?: { spec?: { containers?: Array<Record<string, unknown>> } } } };
    for (const c of copy.spec?.template?.spec?.containers ?? []) {
      for (const field of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const probe = c[field] as { grpc?: { port: number } } | undefined;
        if (!probe?.grpc) continue;
        const { grpc, ...rest } = probe;
        c[field] = { ...rest, tcpSocket: { port: grpc.port } };
        notes.push(`${w.kind}/${w.metadata?.name}: ${field} grpc on port ${grpc.port} becomes tcpSocket (Kubernetes 1.20 has no gRPC probes)`);
      }
    }
    return copy as KubernetesObject;
  });
  return { objects, notes };
}
