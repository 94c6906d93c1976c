// The endpoints of one target right now: the registered pods a Service selects, at the target
// port its service port maps to (by number, or by the pod's container port name).
import type { Endpoint } from '../../api/destination-types.ts';
import { serviceSelects, type EndpointSliceResource } from '../store/resources.ts';
import type { ResourceSet } from '../store/resource-set.ts';
import { viaClusterIp, type Target } from './authority.ts';
import type { PodRegistry, RegisteredPod } from './pod-registry.ts';
import { joinHostPort } from '../../api/host-port.ts';

export interface EndpointView {
  /** False when nothing of that name exists: the proxy forwards as named instead. */
  exists: boolean;
  endpoints: Endpoint[];
}

/** `service`: the Service the endpoint was selected by (absent when an IP was asked for). */
function endpointOf(pod: RegisteredPod, port: number, service?: string): Endpoint {
  // Linkerd's metric_labels: what the caller's proxy labels its outbound series with (dst_*).
  const metricLabels: Record<string, string> = { namespace: pod.namespace, pod: pod.name };
  if (service) metricLabels.service = service;
  if (pod.deployment) metricLabels.deployment = pod.deployment;
  const address = joinHostPort(pod.ip, port);
  // A pod without the mesh's proxy (Kubernetes mode: no injector mark) is reached directly, in plaintext.
  const proxy = pod.identity ? { identity: pod.identity, inboundPort: pod.inboundPort, h2: true } : {};
  return {
    address,
    weight: 1,
    ...proxy,
    labels: { ...pod.labels, pod: pod.name, namespace: pod.namespace, serviceaccount: pod.serviceAccount },
    metricLabels,
  };
}

/** The ready addresses of every slice at the slice port named like the Service port; each pod's identity from the registry. */
function sliceEndpoints(slices: EndpointSliceResource[], portName: string, service: string, pods: PodRegistry): Endpoint[] {
  const byAddress = new Map<string, Endpoint>();
  for (const slice of slices) {
    const port = slice.ports.find((p) => p.name === portName)?.port;
    if (port === undefined) continue;
    for (const e of slice.endpoints) {
      if (!e.ready) continue;
      for (const ip of e.addresses) {
        const pod = (e.pod ? pods.get(slice.meta.namespace, e.pod) : undefined) ?? pods.byIp(ip);
        const endpoint = pod ? endpointOf(pod, port, service) : bareEndpoint(ip, port, slice.meta.namespace, service);
        byAddress.set(endpoint.address, endpoint);
      }
    }
  }
  return [...byAddress.values()].sort((a, b) => a.address.localeCompare(b.address));
}

/** An address whose pod is not (yet) known: no identity, so the caller's proxy talks to it in plaintext. */
function bareEndpoint(ip: string, port: number, namespace: string, service: string): Endpoint {
  return {
    address: joinHostPort(ip, port),
    weight: 1,
    labels: { namespace },
    metricLabels: { namespace, service },
  };
}

export function endpointsFor(named: Target, set: ResourceSet, pods: PodRegistry): EndpointView {
  const target = viaClusterIp(named, set);
  if (target.kind === 'unknown') return { exists: false, endpoints: [] };
  if (target.kind === 'ip') {
    const pod = pods.byIp(target.ip);
    return pod ? { exists: true, endpoints: [endpointOf(pod, target.port)] } : { exists: false, endpoints: [] };
  }
  const svc = set.get('Service', target.namespace, target.name);
  if (!svc) return { exists: false, endpoints: [] };
  const servicePort = svc.ports.find((p) => p.port === target.port);
  // Kubernetes mode: the Service's EndpointSlices, however many, are its endpoints.
  const slices = set.ofKind('EndpointSlice').filter((s) => s.meta.namespace === svc.meta.namespace && s.service === svc.meta.name);
  if (slices.length > 0) return { exists: true, endpoints: servicePort ? sliceEndpoints(slices, servicePort.name ?? '', svc.meta.name, pods) : [] };
  // A port the Service does not declare, or a Service without selector, has no endpoints here.
  if (!servicePort || !svc.selector || Object.keys(svc.selector).length === 0) return { exists: true, endpoints: [] };
  const selector = svc.selector;
  const endpoints: Endpoint[] = [];
  for (const pod of pods.all()) {
    if (pod.namespace !== svc.meta.namespace) continue;
    // Only Ready pods are endpoints of a Service, as in Kubernetes (a pod's own IP still reaches it).
    if (pod.ready === false) continue;
    if (!serviceSelects(selector, pod.labels)) continue;
    const targetPort =
      typeof servicePort.targetPort === 'number' ? servicePort.targetPort : pod.ports.find((p) => p.name === servicePort.targetPort)?.port;
    if (targetPort !== undefined) endpoints.push(endpointOf(pod, targetPort, svc.meta.name));
  }
  endpoints.sort((a, b) => a.address.localeCompare(b.address));
  return { exists: true, endpoints };
}
