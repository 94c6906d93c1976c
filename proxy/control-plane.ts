// The proxy's control-plane clients, built from its config: the IdentityClient (its TlsCredentials,
// from the CA) and the DestinationClient (its Resolver, registering this pod). Kept out of proxy.ts
// so the Proxy class only wires what it is handed.
import { inPortRanges } from '../api/port-ranges.ts';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ProxyConfig } from './config.ts';
import { ConfigError } from './config.ts';
import { DestinationClient } from './discovery/destination-client.ts';
import { PodReadyFile } from './discovery/pod-ready-file.ts';
import type { PodInfo } from '../api/destination-types.ts';
import { IdentityClient } from './identity/client.ts';
import type { TlsCredentials } from './identity/credentials.ts';
import { identityOptions, IdentitySettingsError } from './identity/from-env.ts';

/**
 * The IdentityClient for `config`, or undefined when no CA is configured (cleartext, development).
 * identityOptions does the checking (file readable, PEM, SPIFFE id, a token) on the config's own
 * fields, and its messages name each setting's flag and environment variable.
 */
export function identityFromConfig(config: ProxyConfig, registry: Registry, logger: Logger): IdentityClient | undefined {
  let options;
  try {
    options = identityOptions(config);
  } catch (err) {
    // A bad setting stops the proxy at start like any other bad setting.
    throw err instanceof IdentitySettingsError ? new ConfigError(err.message) : err;
  }
  if (!options) return undefined;
  return new IdentityClient({ ...options, registry, logger: logger.child({ component: 'identity-client' }) });
}

/** The pod this proxy registers: needs a name and a namespace; labels and ports may be empty. */
export function podFromConfig(config: ProxyConfig): PodInfo | undefined {
  if (!config.podName) return undefined;
  if (!config.podNamespace) throw new ConfigError('--pod-name / MESH_POD_NAME is set but --pod-namespace / MESH_POD_NAMESPACE is not');
  // A port in --opaque-ports is announced with protocol `opaque` (the pod's config.linkerd.io/opaque-ports):
  // the destination then tells callers' proxies not to sniff it.
  const opaque = config.opaquePorts;
  const ports = config.podPorts.map((p) => (opaque && inPortRanges(p.port, opaque) ? { ...p, protocol: 'opaque' } : p));
  return { name: config.podName, namespace: config.podNamespace, labels: config.podLabels, ip: config.podIp, otherIps: (config.podIps ?? []).filter((ip) => ip !== config.podIp), ports, deployment: config.podDeployment };
}

/** The DestinationClient for `config`, or undefined when no destination is configured (development mode). */
export function destinationFromConfig(
  config: ProxyConfig,
  credentials: TlsCredentials | undefined,
  inboundPort: number,
  logger: Logger,
): DestinationClient | undefined {
  if (!config.destinationAddr) return undefined;
  // The destination takes the pod's identity from its client certificate: no identity, no registration.
  if (!credentials) throw new ConfigError('--destination-addr / MESH_DESTINATION_ADDR needs an identity: set --identity-addr / MESH_IDENTITY_ADDR too');
  const pod = podFromConfig(config);
  return new DestinationClient({
    podReady: config.podReadyFile ? new PodReadyFile(config.podReadyFile, logger) : undefined,
    addr: config.destinationAddr,
    credentials,
    pod,
    namespace: config.podNamespace,
    inboundPort,
    defaultPolicy: config.inboundDefaultPolicy,
    serverIdentity: config.destinationIdentity,
    // After a destination restart it holds back "no endpoints" for its registration grace (5 s) while
    // pods re-register; reconnecting within 2 s keeps every pod's re-registration inside that window.
    backoff: { minMs: 100, maxMs: 2_000 },
    logger,
  });
}
