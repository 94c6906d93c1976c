// The demo's topology: which processes run, with which command, environment and addresses.
// Both the embedded runner and docker-compose.yml come from this one plan, so they cannot drift.
import type { Workload } from './deployments.ts';
import type { ContainerProbes, ProbeSpec } from './probe-spec.ts';
import { destinationServeCommand, identityServeCommand, vizServeCommand, ingressCommand, ingressEnvironment, sidecarCommand, sidecarEnvironment } from './mesh-commands.ts';
import { codedError } from '../../../api/errors.ts';
import { joinHostPort, splitHostPort } from '../../../api/host-port.ts';

/** Where things live: loopback addresses on one machine, or a Docker network. */
export interface Placement {
  platform: 'local' | 'compose';
  /**
   * How an app's traffic reaches its sidecar: `proxy-env` tells the app (HTTP_PROXY, grpc_proxy:
   * one machine, no namespaces); `iptables` tells it nothing, and `mesh proxy-init` redirects its
   * TCP in the pod's own network namespace, as in a cluster.
   */
  interception: 'proxy-env' | 'iptables';
  /** The address of the Nth pod (N from 1); the ingress is pod 1. */
  podIp(n: number): string;
  identityAddr: string;
  destinationAddr: string;
  /** The viz API (`mesh viz serve`). */
  vizAddr: string;
  /** The dashboard, served by the viz (127.0.0.1:8084). */
  dashboardAddr: string;
  /** Where the ingress proxy's outbound listener takes users' requests, and the URL users (and the traffic generator) use. */
  ingressListen: string;
  ingressUrl: string;
  /** The state folder as the processes see it. */
  stateDir: string;
  /** Project root as the processes see it (their working directory). */
  root: string;
}

/**
 * One machine: pods on 127.0.10.N and the control plane on 127.0.0.1 (DESIGN.md). Setting
 * MESH_DEMO_NET (say `127.0.27`) moves everything into that /24, so a test can run a whole demo
 * beside a learner's: pods on .N, identity on .250, destination on .251, viz on .252, ingress on pod 1.
 */
export function localPlacement(stateDir: string, root: string, net = process.env.MESH_DEMO_NET): Placement {
  if (net !== undefined && net !== '') {
    if (!/^127\.\d{1,3}\.\d{1,3}$/.test(net)) throw new PlacementError(`MESH_DEMO_NET="${net}": expected the first three parts of a loopback address, like 127.0.27`);
    return {
      platform: 'local', interception: 'proxy-env', podIp: (n) => `${net}.${n}`, identityAddr: `${net}.250:8080`, destinationAddr: `${net}.251:8086`, vizAddr: `${net}.252:8085`, dashboardAddr: `${net}.252:8084`,
      ingressListen: `${net}.1:8000`, ingressUrl: `http://${net}.1:8000`, stateDir, root,
    };
  }
  return {
    platform: 'local', interception: 'proxy-env', podIp: (n) => `127.0.10.${n}`, identityAddr: '127.0.0.1:8080', destinationAddr: '127.0.0.1:8086', vizAddr: '127.0.0.1:8085', dashboardAddr: '127.0.0.1:8084',
    ingressListen: '127.0.0.1:8000', ingressUrl: 'http://127.0.0.1:8000', stateDir, root,
  };
}

/**
 * `--netns`: every pod in a network namespace of its own on a bridge inside the node's namespace
 * (runner/netns/), 10.244.0.N as in a cluster's pod CIDR; the control plane on the node's own
 * address on the bridge, 10.244.0.254. Apps are intercepted by proxy-init, as in compose.
 */
export const netnsPodCidr = { base: '10.244.0', prefix: 24, node: '10.244.0.254' };
export function netnsPlacement(stateDir: string, root: string): Placement {
  const node = netnsPodCidr.node;
  return {
    platform: 'local', interception: 'iptables', podIp: (n) => `${netnsPodCidr.base}.${n}`,
    identityAddr: `${node}:8080`, destinationAddr: `${node}:8086`, vizAddr: `${node}:8085`, dashboardAddr: `${node}:8084`,
    ingressListen: `${netnsPodCidr.base}.1:8000`, ingressUrl: `http://${netnsPodCidr.base}.1:8000`, stateDir, root,
  };
}

export class PlacementError extends codedError('BAD_PLACEMENT') {}

/** Fixed addresses on the compose network, so each pod knows its IP as it does on loopback. */
export const composeSubnet = '172.28.0.0/16';
export function composePlacement(): Placement {
  return {
    platform: 'compose', interception: 'iptables', podIp: (n) => `172.28.10.${n}`, identityAddr: '172.28.0.10:8080', destinationAddr: '172.28.0.11:8086', vizAddr: '172.28.0.12:8085',
    // Inside its container the dashboard must listen beyond loopback to be published; compose
    // publishes it on the host's 127.0.0.1 only (the viz warns about the bind all the same).
    dashboardAddr: '0.0.0.0:8084',
    ingressListen: '0.0.0.0:8000', ingressUrl: 'http://172.28.10.1:8000', stateDir: '/state', root: '/app',
  };
}

export interface ProcessSpec {
  /** Unique name: `identity`, `checkout-0` (the app), `checkout-0-proxy` (its sidecar). */
  name: string;
  role: 'control-plane' | 'ingress' | 'app' | 'sidecar';
  /** argv; argv[0] is `node`, which the runner replaces by its own Node binary. */
  command: string[];
  env: Record<string, string>;
  /** Addresses it binds, checked before anything starts so a clash is reported up front. */
  listens: string[];
  /** An admin /ready URL to wait for, or a TCP address to wait for. */
  readyUrl?: string;
  readyTcp?: string;
  /** What the kubelet probes: the app's from its Deployment, the proxy's and control plane's set here. */
  probes?: ContainerProbes;
}

export interface PodPlan {
  name: string;
  namespace: string;
  workload: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** The SPIFFE id its proxy is certified for; absent when unmeshed. */
  identity?: string;
  ip: string;
  ports: Array<{ name?: string; containerPort: number }>;
  meshed: boolean;
  app: ProcessSpec;
  sidecar?: ProcessSpec;
  /** terminationGracePeriodSeconds, in ms. */
  graceMs: number;
  /** Where the kubelet writes the pod's Ready condition for its sidecar (meshed pods). */
  readyFile?: string;
}

/** The front door: a pod whose one process is `mesh proxy --ingress` (no app, no sidecar). */
export interface IngressPlan extends Omit<PodPlan, 'app' | 'sidecar' | 'graceMs' | 'readyFile'> {
  proxy: ProcessSpec;
}

export interface DemoPlan {
  placement: Placement;
  controlPlane: ProcessSpec[];
  ingress: IngressPlan;
  pods: PodPlan[];
  /** The Deployments the pods come from (a rollout plans new pods from them). */
  workloads: Workload[];
  /** The next free N of `placement.podIp(N)`. */
  nextPodNumber: number;
}

/** Where the front door sends requests whose Host names no mesh service (every user's request). */
export const ingressDefaultDst = 'checkout.production.svc.cluster.local:8080';

export const trustDomain = 'cluster.local';
export const spiffeId = (ns: string, sa: string) => `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`;
export const tokenPath = (p: Placement, pod: string) => `${p.stateDir}/tokens/${pod}.jwt`;
export const readyFilePath = (p: Placement, pod: string) => `${p.stateDir}/pods/${pod}.ready`;

/** A probe with Kubernetes's defaults except a one-second period: a demo should react while you watch. */
const quickProbe = (action: ProbeSpec['action'], failureThreshold = 3, timeoutSeconds = 1): ProbeSpec =>
  ({ action, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds, successThreshold: 1, failureThreshold });
/** The probes the injector gives a proxy container (Linkerd's: /ready and /live on the admin port). */
const proxyProbes: ContainerProbes = {
  readiness: quickProbe({ kind: 'httpGet', path: '/ready', port: 4191, scheme: 'HTTP', headers: [] }),
  liveness: quickProbe({ kind: 'httpGet', path: '/live', port: 4191, scheme: 'HTTP', headers: [] }, 10, 5),
};
const tcpReadiness = (addr: string): ContainerProbes => {
  const { host, port } = splitHostPort(addr, 'readiness address');
  return { readiness: quickProbe({ kind: 'tcpSocket', host, port }) };
};

export function planDemo(workloads: Workload[], placement: Placement, manifestsDir: string): DemoPlan {
  const controlPlane: ProcessSpec[] = [
    { name: 'identity', role: 'control-plane', command: identityServeCommand(placement), env: {}, listens: [placement.identityAddr], readyTcp: placement.identityAddr, probes: tcpReadiness(placement.identityAddr) },
    { name: 'destination', role: 'control-plane', command: destinationServeCommand(placement, manifestsDir), env: {}, listens: [placement.destinationAddr], readyTcp: placement.destinationAddr, probes: tcpReadiness(placement.destinationAddr) },
    // The viz: finds pods through the destination, scrapes their proxies, taps them as mesh-viz/tap.
    { name: 'viz', role: 'control-plane', command: vizServeCommand(placement), env: {}, listens: [placement.vizAddr], readyTcp: placement.vizAddr, probes: tcpReadiness(placement.vizAddr) },
  ];

  // The front door: `mesh proxy --ingress`, its outbound listener on the user-facing address, its
  // inbound and admin on its own pod address, identity sa/ingress (DESIGN.md: a proxy in ingress mode).
  const ingressPod = podShell('ingress', 'production', 'ingress', { app: 'ingress' }, 'ingress', placement.podIp(1), [], true);
  const ingress: IngressPlan = {
    ...ingressPod,
    proxy: {
      name: 'ingress', role: 'ingress', command: ingressCommand(),
      env: ingressEnvironment(sidecarEnvFor(ingressPod, placement), placement.ingressListen, ingressDefaultDst),
      listens: [placement.ingressListen, ...[4143, 4190, 4191].map((port) => joinHostPort(ingressPod.ip, port))], readyUrl: `http://${joinHostPort(ingressPod.ip, 4191)}/ready`,
      probes: proxyProbes,
    },
  };

  // Addresses: every workload's first replica in manifest order (.2, .3, ...), then the further
  // replicas, so adding a replica moves no other pod's address (the README's examples stay true).
  let n = 2;
  const ips = new Map<string, string>();
  for (const w of workloads) if (w.replicas > 0) ips.set(`${w.name}-0`, placement.podIp(n++));
  for (const w of workloads) for (let r = 1; r < w.replicas; r++) ips.set(`${w.name}-${r}`, placement.podIp(n++));
  const pods: PodPlan[] = [];
  for (const w of workloads) {
    for (let r = 0; r < w.replicas; r++) pods.push(planPod(w, `${w.name}-${r}`, ips.get(`${w.name}-${r}`)!, placement));
  }
  return { placement, controlPlane, ingress, pods, workloads, nextPodNumber: n };
}

/** One pod of a workload: its app and (when meshed) its sidecar. A rollout plans new pods the same way. */
export function planPod(w: Workload, name: string, ip: string, placement: Placement): PodPlan {
      const pod = podShell(name, w.namespace, w.name, w.labels, w.serviceAccount, ip, w.ports, w.meshed);
      const readyFile = pod.meshed && placement.platform === 'local' ? readyFilePath(placement, pod.name) : undefined;
      // An IPv6 pod IP in a URL needs brackets: http://[fd00::5]:4140.
      const proxyUrl = `http://${joinHostPort(pod.ip, 4140)}`;
      const app: ProcessSpec = {
        name: pod.name, role: 'app', command: [...w.command],
        env: {
          POD_IP: pod.ip, POD_NAME: pod.name, POD_NAMESPACE: pod.namespace, INGRESS_URL: placement.ingressUrl,
          // How app traffic reaches its sidecar without iptables (DESIGN.md, "Pods on one machine").
          ...(pod.meshed && placement.interception === 'proxy-env' ? { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, grpc_proxy: proxyUrl, NO_PROXY: '', no_grpc_proxy: '' } : {}),
          ...w.env,
        },
        listens: w.ports.map((p) => joinHostPort(pod.ip, p.containerPort)),
        readyTcp: w.ports[0] ? joinHostPort(pod.ip, w.ports[0].containerPort) : undefined,
        probes: w.probes,
      };
      const sidecar: ProcessSpec | undefined = pod.meshed
        ? {
          name: `${pod.name}-proxy`, role: 'sidecar', command: sidecarCommand(),
          // Compose has no kubelet to write the file: there the pod counts as Ready while its proxy runs.
          env: {
            ...sidecarEnvFor(pod, placement), ...(readyFile ? { MESH_POD_READY_FILE: readyFile } : {}),
            // Redirected connections arrive on 127.0.0.1:4140; the proxy routes each by its original destination.
            ...(placement.interception === 'iptables' ? { MESH_PROXY_TRANSPARENT: 'true', MESH_PROXY_OUTBOUND_IP: '127.0.0.1' } : {}),
          },
          listens: adminPorts(pod.ip), readyUrl: `http://${joinHostPort(pod.ip, 4191)}/ready`, probes: proxyProbes,
        }
        : undefined;
      return { ...pod, app, sidecar, graceMs: w.terminationGraceSeconds * 1000, readyFile };
}

function podShell(name: string, namespace: string, workload: string, labels: Record<string, string>, sa: string, ip: string, ports: PodPlan['ports'], meshed: boolean) {
  return { name, namespace, workload, labels, serviceAccount: sa, identity: meshed ? spiffeId(namespace, sa) : undefined, ip, ports, meshed };
}

const adminPorts = (ip: string) => [4140, 4143, 4190, 4191].map((port) => joinHostPort(ip, port));

function sidecarEnvFor(pod: Omit<PodPlan, 'app' | 'sidecar' | 'graceMs' | 'readyFile'>, p: Placement): Record<string, string> {
  return sidecarEnvironment({
    pod: { name: pod.name, namespace: pod.namespace, deployment: pod.workload, labels: pod.labels, ip: pod.ip, ports: pod.ports.map((x) => ({ name: x.name, port: x.containerPort })) },
    serviceAccount: pod.serviceAccount,
    identity: pod.identity ?? '',
    identityAddr: p.identityAddr,
    destinationAddr: p.destinationAddr,
    trustAnchorsFile: `${p.stateDir}/identity/ca.crt`,
    tokenFile: tokenPath(p, pod.name),
  });
}
