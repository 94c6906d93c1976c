// Mesh-wide injection settings: where the control plane lives, what the sidecar defaults to.
import { meshVersion } from '../api/locate.ts';
import type { ProxyConfig } from './annotations.ts';
import type { PodIpFamily } from '../api/pod-ip-family.ts';

/** How the app's traffic reaches the proxy (InjectOptions.capture). */
export const CAPTURE_MODES = ['http-proxy', 'iptables'] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

export interface InjectOptions {
  /** Sidecar defaults; namespace and pod annotations override them per workload. */
  proxy: ProxyConfig;
  controlPlaneNamespace: string;
  clusterDomain: string;
  trustDomain: string;
  /** Audience of the projected service-account token the proxy shows the identity service. */
  identityAudience: string;
  /** ConfigMap holding the trust anchors under the key `ca-bundle.crt`. */
  trustRootsConfigMap: string;
  /** `mesh inject` opts every workload in (as `linkerd inject` does); the webhook needs the annotation. */
  assumeEnabled: boolean;
  /**
   * How the app's traffic reaches the proxy: `http-proxy` sets HTTP_PROXY/grpc_proxy on the apps
   * (one machine, shared loopback); `iptables` adds the proxy-init container and a transparent
   * proxy (a pod with a network namespace of its own: a cluster). DESIGN.md, "Pods on one machine".
   */
  capture: CaptureMode;
  /**
   * The address families of the pods in this cluster (api/pod-ip-family.ts). The kubelet only
   * substitutes `$(POD_IP)`, so an IPv6 pod's `HTTP_PROXY` gets its brackets from the template:
   * `http://[$(POD_IP)]:4140`; and a pod with any IPv6 address needs ip6tables rules as well.
   * Every pod of a cluster has an address of its primary family, so the injector's own tells that one.
   */
  podIpFamily: PodIpFamily;
  /**
   * The trust anchors themselves, when the injector knows them (a cluster: from the ConfigMap): they
   * go into the proxy's environment, because a ConfigMap volume cannot reach into another namespace.
   * Unset: the pod mounts the ConfigMap `trustRootsConfigMap` of its own namespace.
   */
  trustAnchorsPem?: string;
  /** Annotations of a namespace, when known (a Namespace in the same file, or `--namespaces`). */
  namespaceAnnotations: (namespace: string) => Record<string, string> | undefined;
}

/**
 * The one image that runs every part (`mesh` on its PATH): the proxy, proxy-init and the control
 * plane. The Dockerfile builds it; `mesh install` and the injector name it with the version as tag.
 */
export const MESH_IMAGE = 'ghcr.io/mesh/mesh';

/** The version in package.json: the proxy image tag and the `linkerd.io/proxy-version` marker. */
export { meshVersion };

export function defaultInjectOptions(overrides: Partial<InjectOptions> = {}): InjectOptions {
  return {
    proxy: {
      imageName: MESH_IMAGE,
      version: meshVersion(),
      logLevel: 'info',
      defaultInboundPolicy: 'all-unauthenticated',
      skipInboundPorts: '',
      skipOutboundPorts: '',
      skipSubnets: '',
      opaquePorts: '',
      // Measured: a Node sidecar peaks at 105-120 MB RSS under load (DESIGN.md), so the limit leaves room.
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '250Mi' } },
      nativeSidecar: false,
      waitBeforeExitSeconds: 0,
    },
    controlPlaneNamespace: 'mesh-system',
    clusterDomain: 'cluster.local',
    trustDomain: 'cluster.local',
    identityAudience: 'identity.l5d.io',
    trustRootsConfigMap: 'mesh-identity-trust-roots',
    assumeEnabled: false,
    capture: 'http-proxy',
    podIpFamily: 'IPv4',
    namespaceAnnotations: () => undefined,
    ...overrides,
  };
}
