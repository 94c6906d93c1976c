// Kubernetes resources a test hands to the destination's folder or to the proxy's development mode
// (--endpoints-file): Services and policy Servers built from the few fields a test varies, and a
// meshed Pod at one address with a Service per authority that selects it, as a JSON `List` (JSON is YAML).
import { stringify } from 'yaml';
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

export interface ServicePort {
  port: number;
  targetPort?: number | string;
  name?: string;
}

/** A Service `name` in `namespace` that selects the pods labelled `app`. */
export function serviceDoc(o: { name: string; namespace: string; app: string; ports: ServicePort[]; annotations?: Record<string, string> }): Doc {
  const metadata = { name: o.name, namespace: o.namespace, ...(o.annotations ? { annotations: o.annotations } : {}) };
  return { apiVersion: 'v1', kind: 'Service', metadata, spec: { selector: { app: o.app }, ports: o.ports } };
}

export interface ServerFields {
  name: string;
  namespace: string;
  /** The pods it covers, by their `app` label. */
  app: string;
  port: number;
  proxyProtocol?: string;
  accessPolicy?: string;
  /** `policy.linkerd.io/<version>`; default v1beta3. */
  version?: 'v1beta1' | 'v1beta3';
}

/** A policy.linkerd.io Server: one port of the pods labelled `app`, with its protocol and default access. */
export function serverDoc(o: ServerFields): Doc {
  const spec: Doc = { podSelector: { matchLabels: { app: o.app } }, port: o.port };
  if (o.proxyProtocol) spec['proxyProtocol'] = o.proxyProtocol;
  if (o.accessPolicy) spec['accessPolicy'] = o.accessPolicy;
  return { apiVersion: `policy.linkerd.io/${o.version ?? 'v1beta3'}`, kind: 'Server', metadata: { name: o.name, namespace: o.namespace }, spec };
}

/** Documents as one multi-document YAML file, as `kubectl apply -f` takes them. */
export function yamlDocuments(docs: Doc[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}

/** A Pod (in every namespace the services use) and one Service per authority, selecting the pod by `app`. */
export function devResources(pod: DevPod, services: DevService[], extra: Doc[] = []): string {
  const docs: Doc[] = [];
  const namespaces = new Set<string>();
  for (const s of services) {
    const [host, port] = s.authority.split(':');
    const [name, namespace] = host!.split('.');
    namespaces.add(namespace!);
    docs.push(serviceDoc({ name: name!, namespace: namespace!, app: pod.name, ports: [{ port: Number(port), targetPort: s.port }] }));
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
