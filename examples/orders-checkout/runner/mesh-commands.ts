// How the demo invokes the mesh's own commands (`mesh identity ...`, `mesh destination serve`,
// `mesh proxy`): the one place that knows their flags and environment variables, so a change
// to any of them is a change here. See proxy/README.md, identity/README.md, destination/README.md.
import type { Placement } from './topology.ts';
import { DEFAULT_PROXY_UID } from '../../../proxy-init/rules.ts';
import { splitHostPort } from '../../../api/host-port.ts';

const mesh = ['node', 'bin/mesh.js'];

export const identityDir = (p: Placement) => `${p.stateDir}/identity`;

export function identityInitCommand(p: Placement): string[] {
  return [...mesh, 'identity', 'init', '--dir', identityDir(p)];
}

export function identityServeCommand(p: Placement): string[] {
  return [...mesh, 'identity', 'serve', '--dir', identityDir(p), '--addr', p.identityAddr];
}

export function tokenCommand(p: Placement, namespace: string, serviceAccount: string): string[] {
  return [...mesh, 'identity', 'token', '--dir', identityDir(p), '--namespace', namespace, '--service-account', serviceAccount, '--ttl', '720h'];
}

export function destinationServeCommand(p: Placement, manifestsDir: string): string[] {
  return [
    ...mesh, 'destination', 'serve', '--resources', manifestsDir, '--listen', p.destinationAddr,
    '--identity-addr', p.identityAddr, '--trust-anchors', `${identityDir(p)}/ca.crt`,
    '--token-file', `${p.stateDir}/tokens/destination.jwt`,
  ];
}

/** The viz's token is minted for service account `tap` in namespace `mesh-viz` (viz/identity.ts). */
export const vizTokenFile = (p: Placement) => `${p.stateDir}/tokens/viz.jwt`;

export function vizServeCommand(p: Placement): string[] {
  return [
    ...mesh, 'viz', 'serve', '--listen', p.vizAddr, '--destination-addr', p.destinationAddr,
    '--identity-addr', p.identityAddr, '--trust-anchors', `${identityDir(p)}/ca.crt`, '--token-file', vizTokenFile(p),
    '--dashboard', p.dashboardAddr, '--ingress-url', p.ingressUrl,
  ];
}

/**
 * A pod's init step: `mesh proxy-init` with the proxy's UID, the control plane's addresses and the
 * workload's skip-*-ports annotations; `skipInboundFrom` lets the node's probes reach the app.
 */
export function proxyInitCommand(controlPlane: string, w: { skipInboundPorts?: string; skipOutboundPorts?: string } | undefined, skipInboundFrom?: string): string[] {
  return [...mesh, 'proxy-init', '--proxy-uid', String(DEFAULT_PROXY_UID), '--control-plane', controlPlane,
    ...(w?.skipInboundPorts ? ['--skip-inbound-ports', w.skipInboundPorts] : []), ...(w?.skipOutboundPorts ? ['--skip-outbound-ports', w.skipOutboundPorts] : []),
    ...(skipInboundFrom ? ['--skip-inbound-from', skipInboundFrom] : [])];
}

export function sidecarCommand(): string[] {
  return [...mesh, 'proxy'];
}

/** The front door is a proxy in ingress mode; the flag is on the command line so `ps` shows it. */
export function ingressCommand(): string[] {
  return [...mesh, 'proxy', '--ingress'];
}

export interface SidecarSettings {
  pod: { name: string; namespace: string; deployment?: string; labels: Record<string, string>; ip: string; ports: Array<{ name?: string; port: number }> };
  serviceAccount: string;
  identity: string;
  identityAddr: string;
  destinationAddr: string;
  trustAnchorsFile: string;
  tokenFile: string;
}

/** The sidecar's settings as environment variables (proxy/README.md and proxy/config.ts list them). */
export function sidecarEnvironment(s: SidecarSettings): Record<string, string> {
  const env: Record<string, string> = {
    MESH_POD_IP: s.pod.ip,
    MESH_POD_NAME: s.pod.name,
    MESH_POD_NAMESPACE: s.pod.namespace,
    MESH_POD_LABELS: Object.entries(s.pod.labels).map(([k, v]) => `${k}=${v}`).join(','),
    MESH_POD_PORTS: s.pod.ports.map((p) => (p.name ? `${p.name}:${p.port}` : String(p.port))).join(','),
    MESH_SERVICE_ACCOUNT: s.serviceAccount,
    MESH_IDENTITY: s.identity,
    MESH_IDENTITY_ADDR: s.identityAddr,
    MESH_DESTINATION_ADDR: s.destinationAddr,
    MESH_TRUST_ANCHORS: s.trustAnchorsFile,
    MESH_TOKEN_FILE: s.tokenFile,
    // The demo stops in seconds; in-flight requests get 2 s, not the default 10.
    MESH_PROXY_SHUTDOWN_GRACE_MS: '2000',
    // glibc's malloc: two arenas, not one per thread that allocates (proxy/README.md, "Performance").
    MALLOC_ARENA_MAX: '2',
  };
  // The owning Deployment: the `deployment` label of the proxy's metrics.
  if (s.pod.deployment) env.MESH_POD_DEPLOYMENT = s.pod.deployment;
  return env;
}

/**
 * The front door's settings: a sidecar's (identity, destination, pod) plus where its outbound
 * listener takes users' requests and the service those go to (proxy/README.md, "Ingress mode").
 */
export function ingressEnvironment(sidecarEnv: Record<string, string>, listen: string, defaultDst: string): Record<string, string> {
  const { host, port } = splitHostPort(listen, 'the front door address');
  return {
    ...sidecarEnv,
    MESH_PROXY_OUTBOUND_IP: host,
    MESH_PROXY_OUTBOUND_PORT: String(port),
    MESH_PROXY_INGRESS_DEFAULT_DST: defaultDst,
  };
}
