// Pods.WatchPods: the registered pods, whole, first and after every change; only for callers
// that prove a mesh identity, since the list maps the whole mesh at once.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { PodRegistry, RegisteredPod } from '../index/pod-registry.ts';
import { verifiedCallerIdentity } from './server-credentials.ts';
import { stopWhenEnded } from './stream-end.ts';

/** What one pod looks like on the wire (api/destination.proto, RegisteredPod). */
function podToWire(pod: RegisteredPod) {
  return {
    name: pod.name, namespace: pod.namespace, labels: pod.labels, ip: pod.ip,
    ports: pod.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? '' })),
    inboundPort: pod.inboundPort, identity: pod.identity, serviceAccount: pod.serviceAccount,
    deployment: pod.deployment ?? '',
  };
}

export function podsHandler(pods: PodRegistry, logger: Logger) {
  return (call: grpc.ServerWritableStream<{ namespace: string }, unknown>) => {
    const caller = verifiedCallerIdentity(call);
    if (!caller) {
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'WatchPods requires a client certificate from the mesh CA (any mesh identity, such as the viz\'s spiffe://<td>/ns/mesh-viz/sa/tap)' });
      return;
    }
    const namespace = call.request.namespace ?? '';
    let last = '';
    let pending = false;
    let closed = false;
    // Registrations arrive in bursts (a restart re-registers every proxy): one list per burst.
    const send = () => {
      pending = false;
      if (closed) return;
      const list = pods.all().filter((p) => namespace === '' || p.namespace === namespace)
        .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
        .map(podToWire);
      const json = JSON.stringify(list);
      if (json === last) return;
      last = json;
      call.write({ pods: list });
    };
    const stopListening = pods.onChange(() => {
      if (pending) return;
      pending = true;
      setImmediate(send);
    });
    send();
    logger.debug({ caller, namespace }, 'pods watch opened');
    const stop = () => {
      closed = true;
      stopListening();
    };
    stopWhenEnded(call, stop);
  };
}
