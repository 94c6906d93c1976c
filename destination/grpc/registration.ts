// Registration.Register: a proxy announces its pod; the pod's identity, namespace and service
// account come from the proxy's verified client certificate; the endpoint lives as long as the stream.
import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { PodAnnouncementMessage, RegistrationEventMessage } from '../../api/destination-messages.ts';
import { parseSpiffeId } from '../../api/spiffe.ts';
import type { PodRegistry, RegisteredPod } from '../index/pod-registry.ts';
import { verifiedCallerIdentity } from './server-credentials.ts';

/** `podsFromApi`: Kubernetes mode, where the API's Pods are the registry and an announcement is only checked and acknowledged. */
export function registrationHandler(pods: PodRegistry, logger: Logger, podsFromApi = false) {
  return (call: grpc.ServerDuplexStream<PodAnnouncementMessage, RegistrationEventMessage>) => {
    const peer = call.getPeer();
    const identity = verifiedCallerIdentity(call);
    const id = identity ? parseSpiffeId(identity) : undefined;
    let unregister: (() => void) | undefined;
    const refuse = (code: grpc.status, message: string) => {
      logger.warn({ peer, identity: identity ?? null, reason: message }, 'registration refused');
      call.write({ accepted: false, message });
      call.emit('error', { code, details: message }); // ends the call with that status
      unregister?.();
      unregister = undefined;
    };
    call.on('data', (msg: PodAnnouncementMessage) => {
      if (!identity || !id) return refuse(grpc.status.UNAUTHENTICATED, 'registration requires a client certificate with a SPIFFE id issued by the mesh CA');
      const problem = checkAnnouncement(msg, id);
      if (problem) return refuse(problem.code, problem.message);
      const pod: RegisteredPod = {
        name: String(msg.name),
        namespace: id.namespace,
        labels: { ...(msg.labels ?? {}) },
        deployment: msg.deployment || undefined,
        ip: String(msg.ip),
        ...(msg.otherIps?.length ? { otherIps: msg.otherIps.map(String) } : {}),
        ports: (msg.ports ?? []).map((p) => ({ name: p.name || undefined, port: Number(p.port), protocol: p.protocol || undefined })),
        inboundPort: Number(msg.inboundPort) || 4143,
        identity,
        serviceAccount: id.serviceAccount,
        ready: !msg.notReady,
      };
      if (podsFromApi) {
        call.write({ accepted: true, message: `${pod.namespace}/${pod.name}: pods come from the Kubernetes API here` });
        return;
      }
      const previous = unregister;
      unregister = pods.register(pod); // a re-announcement replaces the pod in place
      if (previous) previous();
      logger.info({ pod: `${pod.namespace}/${pod.name}`, ip: pod.ip, identity, ready: pod.ready }, previous ? 'pod announced again' : 'pod registered');
      call.write({ accepted: true, message: `registered ${pod.namespace}/${pod.name} as ${identity}` });
    });
    const gone = (why: string) => {
      if (!unregister) return;
      unregister();
      unregister = undefined;
      logger.info({ peer, identity, why }, 'pod unregistered');
    };
    call.on('end', () => {
      gone('stream ended');
      call.end();
    });
    call.on('cancelled', () => gone('stream cancelled'));
    call.on('error', () => gone('stream failed'));
    call.on('close', () => gone('stream closed'));
  };
}

function checkAnnouncement(msg: PodAnnouncementMessage, id: { namespace: string; serviceAccount: string }): { code: grpc.status; message: string } | undefined {
  const bad = (message: string) => ({ code: grpc.status.INVALID_ARGUMENT, message });
  if (!msg.name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(msg.name)) return bad(`name: must be a lowercase DNS name, got ${JSON.stringify(msg.name)}`);
  if (msg.namespace && msg.namespace !== id.namespace) {
    return { code: grpc.status.PERMISSION_DENIED, message: `namespace: the certificate is for namespace ${id.namespace}, the announcement claims ${msg.namespace}` };
  }
  if (msg.serviceAccount && msg.serviceAccount !== id.serviceAccount) {
    return { code: grpc.status.PERMISSION_DENIED, message: `service_account: the certificate is for ${id.serviceAccount}, the announcement claims ${msg.serviceAccount}` };
  }
  // Trusted like the labels (the namespace is the certificate's); it becomes a metric label, so only a Kubernetes name.
  if (msg.deployment && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(msg.deployment)) {
    return bad(`deployment: must be a lowercase DNS name, got ${JSON.stringify(msg.deployment)}`);
  }
  if (!isIP(msg.ip ?? '')) return bad(`ip: must be an IP address, got ${JSON.stringify(msg.ip)}`);
  // status.podIPs holds at most one address of each family, the first being `ip`.
  const others = msg.otherIps ?? [];
  if (others.length > 1) return bad(`other_ips: a pod has at most one address of its other family, got ${others.length}`);
  for (const other of others) {
    if (isIP(other) === 0 || isIP(other) === isIP(msg.ip ?? '')) return bad(`other_ips: must be an IP address of the family ip is not, got ${JSON.stringify(other)} beside ip ${JSON.stringify(msg.ip)}`);
  }
  for (const [i, p] of (msg.ports ?? []).entries()) {
    if (!(Number(p.port) >= 1 && Number(p.port) <= 65535)) return bad(`ports[${i}].port: must be 1-65535, got ${p.port}`);
  }
  if (msg.inboundPort && !(msg.inboundPort >= 1 && msg.inboundPort <= 65535)) return bad(`inbound_port: must be 1-65535, got ${msg.inboundPort}`);
  return undefined;
}
