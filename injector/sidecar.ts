// What injection adds to a pod template: the mesh-proxy container, its volumes, and the
// environment that sends the app's traffic through it (HTTP_PROXY mode, DESIGN.md).
import type { ProxyConfig } from './annotations.ts';
import { PROXY_CONTAINER, type InjectMode } from './decision.ts';
import type { InjectOptions } from './options.ts';
import { parseCidr } from '../api/cidr.ts';
import { hasIpv6, isDualStack, primaryFamily, type PodIpFamily } from '../api/pod-ip-family.ts';
import type { Container, EnvVar, Volume } from './workloads.ts';

export const PORTS = { outbound: 4140, inbound: 4143, admin: 4191, tap: 4190 } as const;
/** The proxy runs as this user; proxy-init lets its own dials out untouched by it (proxy-init/README.md). */
export const PROXY_UID = 2102;
export const PROXY_INIT_CONTAINER = 'mesh-init';
export const VOLUMES = { trustRoots: 'mesh-identity-trust-roots', token: 'mesh-identity-token' } as const;
const TRUST_ROOTS_DIR = '/var/run/mesh/identity/trust-roots';
const TOKEN_DIR = '/var/run/secrets/tokens';

/** What the proxy registers for its pod (destination selects pods by these labels and ports). */
export interface PodFacts {
  labels: Record<string, string>;
  ports: Array<{ name?: string; port: number }>;
  /** The Deployment that owns the pod, when injection knows it. */
  deployment?: string;
}

const field = (name: string, fieldPath: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
const value = (name: string, v: string): EnvVar => ({ name, value: v });

/**
 * Proxy settings, in an order where every `$(VAR)` refers to a variable defined above it. Names
 * follow proxy/config.ts (ports, pod IP), api/log.ts (level) and the demo runner's sidecar
 * environment (examples/orders-checkout/runner/mesh-commands.ts), so a pod in a cluster and a pod
 * of the demo start their proxy the same way.
 */
function proxyEnv(config: ProxyConfig, pod: PodFacts, o: InjectOptions): EnvVar[] {
  const svc = (name: string, port: number) => `${name}.${o.controlPlaneNamespace}.svc.${o.clusterDomain}:${port}`;
  const env: EnvVar[] = [
    value('MESH_LOG_LEVEL', config.logLevel),
    field('MESH_POD_NAME', 'metadata.name'),
    field('MESH_POD_NAMESPACE', 'metadata.namespace'),
    field('MESH_POD_IP', 'status.podIP'),
    // A dual-stack pod's addresses, one of each family: the proxy's inbound listener binds both (a
    // redirected caller arrives at the address of its own family) and announces both to discovery.
    ...(isDualStack(o.podIpFamily) ? [field('MESH_POD_IPS', 'status.podIPs')] : []),
    field('MESH_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    // Label values cannot hold `,` or `=` (Kubernetes forbids them), so this list is unambiguous.
    value('MESH_POD_LABELS', Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`).join(',')),
    value('MESH_POD_PORTS', pod.ports.map((p) => (p.name ? `${p.name}:${p.port}` : String(p.port))).join(',')),
    // The owning Deployment, for the `deployment` label of the proxy's metrics (and its callers' `dst_deployment`).
    ...(pod.deployment ? [value('MESH_POD_DEPLOYMENT', pod.deployment)] : []),
    value('MESH_PROXY_OUTBOUND_PORT', String(PORTS.outbound)),
    value('MESH_PROXY_INBOUND_PORT', String(PORTS.inbound)),
    value('MESH_PROXY_ADMIN_PORT', String(PORTS.admin)),
    value('MESH_PROXY_TAP_PORT', String(PORTS.tap)),
    value('MESH_PROXY_INBOUND_DEFAULT_POLICY', config.defaultInboundPolicy),
    // glibc's malloc: two arenas, not one per thread that allocates (proxy/README.md, "Performance").
    value('MALLOC_ARENA_MAX', '2'),
  ];
  // proxy-init redirects the app's outbound TCP to 127.0.0.1:4140; the proxy reads where it was going.
  if (o.capture === 'iptables') env.push(value('MESH_PROXY_TRANSPARENT', 'true'), value('MESH_PROXY_OUTBOUND_IP', '127.0.0.1'));
  // A client outside the mesh names no port; with one app port there is no doubt which it meant.
  if (pod.ports.length === 1) env.push(value('MESH_PROXY_APP_PORT', String(pod.ports[0]!.port)));
  if (config.skipInboundPorts) env.push(value('MESH_PROXY_SKIP_INBOUND_PORTS', config.skipInboundPorts));
  if (config.skipOutboundPorts) env.push(value('MESH_PROXY_SKIP_OUTBOUND_PORTS', config.skipOutboundPorts));
  if (config.opaquePorts) env.push(value('MESH_PROXY_OPAQUE_PORTS', config.opaquePorts));
  env.push(
    value('MESH_IDENTITY', `spiffe://${o.trustDomain}/ns/$(MESH_POD_NAMESPACE)/sa/$(MESH_SERVICE_ACCOUNT)`),
    value('MESH_IDENTITY_ADDR', svc('identity', 8080)),
    value('MESH_DESTINATION_ADDR', svc('destination', 8086)),
    o.trustAnchorsPem ? value('MESH_TRUST_ANCHORS_PEM', o.trustAnchorsPem) : value('MESH_TRUST_ANCHORS', `${TRUST_ROOTS_DIR}/ca-bundle.crt`),
    value('MESH_TOKEN_FILE', `${TOKEN_DIR}/${VOLUMES.token}`),
  );
  return env;
}

export function proxyContainer(config: ProxyConfig, mode: InjectMode, pod: PodFacts, o: InjectOptions): Container {
  const { requests, limits } = config.resources;
  const probe = (path: string, initialDelaySeconds: number) => ({
    httpGet: { path, port: PORTS.admin },
    initialDelaySeconds,
    timeoutSeconds: 1,
  });
  return {
    name: PROXY_CONTAINER,
    image: `${config.imageName}:${config.version}`,
    imagePullPolicy: 'IfNotPresent',
    // Ingress mode is a flag of `mesh proxy`, as the demo runner starts its front door.
    command: mode === 'ingress' ? ['mesh', 'proxy', '--ingress'] : ['mesh', 'proxy'],
    ports: [
      { name: 'mesh-outbound', containerPort: PORTS.outbound, protocol: 'TCP' },
      { name: 'mesh-inbound', containerPort: PORTS.inbound, protocol: 'TCP' },
      { name: 'mesh-admin', containerPort: PORTS.admin, protocol: 'TCP' },
      { name: 'mesh-tap', containerPort: PORTS.tap, protocol: 'TCP' },
    ],
    env: proxyEnv(config, pod, o),
    readinessProbe: probe('/ready', 2),
    livenessProbe: probe('/live', 10),
    resources: { requests: { ...requests }, limits: { ...limits } },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [
      ...(o.trustAnchorsPem ? [] : [{ name: VOLUMES.trustRoots, mountPath: TRUST_ROOTS_DIR, readOnly: true }]),
      { name: VOLUMES.token, mountPath: TOKEN_DIR, readOnly: true },
    ],
    // A native sidecar (Kubernetes 1.29+) starts before the app and stops after it, so Jobs finish.
    // Otherwise the kubelet starts the next container only once this hook returns: the app's
    // first request finds a ready proxy (Linkerd's linkerd-await).
    ...(config.nativeSidecar
      ? { restartPolicy: 'Always', startupProbe: { httpGet: { path: '/ready', port: PORTS.admin }, periodSeconds: 1, failureThreshold: 120 } }
      : {}),
    ...lifecycle(config),
  };
}

/**
 * The proxy's hooks: without a native sidecar, postStart holds the app until the proxy is ready;
 * with `proxy-wait-before-exit-seconds`, preStop sleeps that long before the kubelet sends the
 * proxy its SIGTERM, so an app still finishing its requests keeps its proxy (Linkerd's own hook).
 */
function lifecycle(config: ProxyConfig): { lifecycle?: Record<string, { exec: { command: string[] } }> } {
  const hooks: Record<string, { exec: { command: string[] } }> = {};
  if (!config.nativeSidecar) hooks.postStart = { exec: { command: ['mesh', 'proxy-await', '--timeout', '2m'] } };
  if (config.waitBeforeExitSeconds > 0) hooks.preStop = { exec: { command: ['/bin/sleep', String(config.waitBeforeExitSeconds)] } };
  return Object.keys(hooks).length > 0 ? { lifecycle: hooks } : {};
}

/**
 * linkerd-init's part: in the pod's network namespace, before any other container, install the
 * iptables rules that send the app's TCP through the proxy. It needs NET_ADMIN (and root to use
 * it), and nothing else; it runs once and exits.
 */
export function proxyInitContainer(config: ProxyConfig, podIpFamily: PodIpFamily, warnings: string[]): Container {
  const args = ['--inbound-port', String(PORTS.inbound), '--outbound-port', String(PORTS.outbound), '--proxy-uid', String(PROXY_UID)];
  // A pod with an IPv6 address, alone or beside an IPv4 one, has IPv6 traffic: without ip6tables
  // rules it would go around the proxy. `--ipv6` writes the rules for both families.
  if (hasIpv6(podIpFamily)) args.push('--ipv6');
  if (config.skipInboundPorts) args.push('--skip-inbound-ports', config.skipInboundPorts);
  if (config.skipOutboundPorts) args.push('--skip-outbound-ports', config.skipOutboundPorts);
  // Linkerd's skip-subnets: sources whose connections reach the app directly. An IPv6 one in a
  // cluster without IPv6 would be refused by proxy-init (no ip6tables rules to put it in), and the
  // pod would never start: it is left out, with a warning, as a bad annotation value is.
  const subnets = config.skipSubnets ? config.skipSubnets.split(',') : [];
  // Told by the mesh's one CIDR reading (api/cidr.ts), which annotations.ts already checked each entry with.
  const withoutRules = hasIpv6(podIpFamily) ? [] : subnets.filter((cidr) => parseCidr(cidr.trim())?.family === 'IPv6');
  if (withoutRules.length > 0) warnings.push(`annotation config.linkerd.io/skip-subnets: ${withoutRules.join(',')} ignored: the pods have no IPv6 address (pod IP family ${podIpFamily}), so proxy-init writes no ip6tables rules`);
  const kept = subnets.filter((cidr) => !withoutRules.includes(cidr));
  if (kept.length > 0) args.push('--skip-inbound-from', kept.join(','));
  return {
    name: PROXY_INIT_CONTAINER,
    image: `${config.imageName}:${config.version}`,
    imagePullPolicy: 'IfNotPresent',
    command: ['mesh', 'proxy-init', ...args],
    resources: { requests: { cpu: '10m', memory: '20Mi' }, limits: { memory: '100Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export function proxyVolumes(o: InjectOptions): Volume[] {
  return [
    ...(o.trustAnchorsPem ? [] : [{ name: VOLUMES.trustRoots, configMap: { name: o.trustRootsConfigMap } }]),
    {
      name: VOLUMES.token,
      projected: {
        sources: [{ serviceAccountToken: { audience: o.identityAudience, expirationSeconds: 86400, path: VOLUMES.token } }],
      },
    },
  ];
}

/**
 * App-side variables: the pod IP, then the proxy settings that send HTTP and gRPC through the sidecar.
 * An IPv6 address in a URL needs brackets, and the kubelet adds none when it substitutes `$(POD_IP)`.
 */
export function appEnv(podIpFamily: PodIpFamily): EnvVar[] {
  // `$(POD_IP)` is the primary family's address (a dual-stack pod's first of `status.podIPs`).
  const outbound = `http://${primaryFamily(podIpFamily) === 'IPv6' ? '[$(POD_IP)]' : '$(POD_IP)'}:${PORTS.outbound}`;
  return [
    field('POD_IP', 'status.podIP'),
    value('HTTP_PROXY', outbound),
    value('http_proxy', outbound),
    value('grpc_proxy', outbound),
  ];
}
