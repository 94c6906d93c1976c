// Kubernetes resources for the proxy's development mode (--endpoints-file): a meshed Pod at one
// address and a Service per authority that selects it, written as a JSON `List` (JSON is YAML).
import { parseSpiffeId } from '../../api/spiffe.ts';

export interface DevService {
  /** `name.ns.svc.cluster.local:port`: the Service `name` in `ns`, port `port`. */
  authority: string;
  /** The app's port on the pod. */
  port: number;
}

export interface DevPod {
  name: string;
  ip: string;
  /** The pod's proxy's inbound port. */
  inboundPort: number;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`: the service account (its namespace must be the services'). */
  identity?: string;
  labels?: Record<string, string>;
}

export type Doc = Record<string, unknown>;

/** A Pod (in every namespace the services use) and one Service per authority, selecting the pod by `app`. */
export function devResources(pod: DevPod, services: DevService[], extra: Doc[] = []): string {
  const docs: Doc[] = [];
  const namespaces = new Set<string>();
  for (const s of services) {
    const [host, port] = s.authority.split(':');
    const [name, namespace] = host!.split('.');
    namespaces.add(namespace!);
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { selector: { app: pod.name }, ports: [{ port: Number(port), targetPort: s.port }] },
    });
  }
  const sa = pod.identity ? parseSpiffeId(pod.identity) : undefined;
  if (sa) namespaces.add(sa.namespace);
  for (const namespace of namespaces) docs.push(devPod(pod, namespace, sa?.serviceAccount));
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...docs, ...extra] }, null, 2);
}

export function devPod(pod: DevPod, namespace: string, serviceAccount = 'default'): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace, labels: { app: pod.name, ...pod.labels } },
    spec: { serviceAccountName: serviceAccount, containers: [{ name: 'mesh-proxy', ports: [{ name: 'mesh-inbound', containerPort: pod.inboundPort }] }] },
    status: { podIP: pod.ip },
  };
}
