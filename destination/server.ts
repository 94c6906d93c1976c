// The destination control-plane service: the resource store, the live discovery model, and the
// gRPC services of api/destination.proto over TLS, assembled in one place.
import * as grpc from '@grpc/grpc-js';
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { destinationProto } from '../api/destination-proto.ts';
import type { DefaultPolicy } from '../api/destination-types.ts';
import { joinHostPort, splitHostPort } from '../api/host-port.ts';
import { destinationServiceDefinition } from './grpc/destination-service.ts';
import { endpointsHandler } from './grpc/endpoints-stream.ts';
import { inboundPoliciesServiceDefinition, policyHandler } from './grpc/policy-stream.ts';
import { podsHandler } from './grpc/pods-stream.ts';
import { profileHandler } from './grpc/profile-stream.ts';
import { registrationHandler } from './grpc/registration.ts';
import { resourcesHandler } from './grpc/resources-stream.ts';
import { OptionalClientCertCredentials, type ServerTls } from './grpc/server-credentials.ts';
import { DEFAULT_CLUSTER_NETWORKS, Discovery } from './index/discovery.ts';
import { PodWarnings } from './index/pod-warnings.ts';
import { ResourceStore } from './store/resource-store.ts';
import type { ApiSource } from './kubernetes/api-source.ts';

export interface DestinationOptions {
  /** The folder of YAML; unused with `kubernetes`. */
  resourcesDir: string;
  /** Read the Kubernetes API instead of the folder: a kubeconfig file, or in-cluster configuration when it is absent. */
  kubernetes?: { kubeconfig?: string };
  /** `host:port`; port 0 picks a free port. DESIGN.md: 127.0.0.1:8086. */
  addr: string;
  tls: ServerTls;
  logger: Logger;
  defaultPolicy?: DefaultPolicy;
  /** Networks `cluster-authenticated` treats as the cluster; pods live on 127.0.10.0/24 here. */
  clusterNetworks?: string[];
  trustDomain?: string;
  clusterDomain?: string;
  /** See DiscoverySettings.registrationGraceMs (default 5 s). */
  registrationGraceMs?: number;
}

export interface DestinationServer {
  /** The bound `host:port`. */
  address: string;
  port: number;
  store: ResourceStore;
  /** Warnings that depend on registered pods (a Server selecting none), logged once each. */
  podWarnings: PodWarnings;
  discovery: Discovery;
  credentials: OptionalClientCertCredentials;
  /** Kubernetes mode: the API watches (which kind at which version, lists and resumes). */
  kubernetes?: ApiSource;
  /** Stops accepting, cancels every stream (watchers see the destination go away). */
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 64 * 1024;

export async function startDestination(options: DestinationOptions): Promise<DestinationServer> {
  const logger = options.logger;
  // Checked before anything starts; an IPv6 address without brackets ($(POD_IP):port) is bound bracketed.
  const listen = splitHostPort(options.addr, 'destination --addr');
  // Loaded only in Kubernetes mode: the API client is a large import that YAML mode never needs.
  const kube = options.kubernetes ? await (await import('./kubernetes/mode.ts')).startKubernetesSource(options.kubernetes.kubeconfig, logger) : undefined;
  if (!kube && !statSync(options.resourcesDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`resources ${options.resourcesDir}: not a directory (a folder of Kubernetes-style YAML is required)`);
  }
  const store = new ResourceStore({
    dir: kube ? kube.source.server : options.resourcesDir,
    source: kube?.source,
    // Kubernetes mode reads Pods (the registry) and EndpointSlices (the endpoints) as resources too.
    pods: Boolean(kube),
    endpointSlices: Boolean(kube),
    logger,
    trustDomain: options.trustDomain,
    clusterDomain: options.clusterDomain,
  });
  store.start();
  const discovery = new Discovery(store, {
    defaultPolicy: options.defaultPolicy ?? 'all-unauthenticated',
    clusterNetworks: options.clusterNetworks ?? DEFAULT_CLUSTER_NETWORKS,
    registrationGraceMs: options.registrationGraceMs,
  });
  const kubeMode = kube?.attach(store, discovery.pods, logger);
  const closeKubernetes = () => {
    kubeMode?.close();
    kube?.source.stop();
  };
  // A Server selecting no pod is judged once registrations settle (after the grace, pods re-register).
  const podWarnings = new PodWarnings(store, discovery.pods, logger, Math.max(options.registrationGraceMs ?? 5_000, 2_000));
  const proto = destinationProto();
  // Each watcher is a long-lived stream; keepalive finds peers that vanished without a FIN. What
  // proxies send (a request, a pod announcement) is well under a KiB: anything near the cap is hostile.
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
  });
  server.addService(destinationServiceDefinition(), {
    getEndpoints: endpointsHandler(discovery, logger),
    getProfile: profileHandler(discovery, logger),
  });
  server.addService(inboundPoliciesServiceDefinition(), { watchPort: policyHandler(discovery, logger) });
  server.addService(proto.Registration.service, { register: registrationHandler(discovery.pods, logger, Boolean(kube)) });
  server.addService(proto.Pods.service, { watchPods: podsHandler(discovery.pods, logger) });
  server.addService(proto.Resources.service, { watchResources: resourcesHandler(store, logger) });
  const credentials = new OptionalClientCertCredentials(options.tls);
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(joinHostPort(listen.host, listen.port), credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
  } catch (err) {
    closeKubernetes();
    store.stop();
    discovery.close();
    podWarnings.close();
    throw new Error(`destination: cannot listen on ${options.addr}: ${(err as Error).message}`, { cause: err });
  }
  const address = joinHostPort(listen.host, port);
  logger.info({ address, resources: kube ? `kubernetes ${kube.source.server}` : options.resourcesDir }, 'destination serving');
  return {
    address,
    port,
    store,
    discovery,
    podWarnings,
    credentials,
    kubernetes: kube?.source,
    close: async () => {
      closeKubernetes();
      store.stop();
      discovery.close();
      podWarnings.close();
      server.forceShutdown();
    },
  };
}
