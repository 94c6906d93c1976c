// The control plane's objects: namespaces, the trust anchor ConfigMap, the issuer and webhook
// Secrets, a Deployment and a Service per component, and the MutatingWebhookConfiguration.
import type { IdentityMaterial, WebhookMaterial } from './certificates.ts';
import {
  componentLabels,
  CONFIG_CONFIGMAP,
  CONTROL_PLANE_NS,
  INJECTOR_TLS_SECRET,
  ISSUER_SECRET,
  PORTS,
  TRUST_ROOTS_CONFIGMAP,
  VIZ_NS,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_NAME,
  type Component,
} from './names.ts';
import type { InstallValues } from './values.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Where the pods find what is mounted into them. */
const MOUNTS = {
  trustRoots: '/var/run/mesh/identity/trust-roots',
  issuer: '/var/run/mesh/identity/issuer',
  injectorTls: '/var/run/mesh/injector/tls',
  token: '/var/run/secrets/tokens',
} as const;

// The control plane is never injected by its own webhook (its namespaces opt out by label).
const controlPlaneNamespace = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: {
    name,
    labels: { 'app.kubernetes.io/part-of': 'mesh', 'linkerd.io/is-control-plane': 'true', 'config.linkerd.io/admission-webhooks': 'disabled' },
    annotations: { 'linkerd.io/inject': 'disabled' },
  },
});

export function namespaces(): object[] {
  return [controlPlaneNamespace(CONTROL_PLANE_NS), vizNamespace()];
}

/** The viz's namespace alone, as `mesh install` makes it (`mesh viz install` prints it). */
export function vizNamespace(): object {
  return controlPlaneNamespace(VIZ_NS);
}

export function configMaps(v: InstallValues, identity: IdentityMaterial): object[] {
  const settings = {
    version: v.image.version,
    image: v.image.name,
    clusterDomain: v.clusterDomain,
    identityTrustDomain: v.identityTrustDomain,
    issuerScheme: v.identity.issuer.scheme,
    issuanceLifetime: v.identity.issuer.issuanceLifetime,
    controllerReplicas: v.controllerReplicas,
    enablePodAntiAffinity: v.enablePodAntiAffinity,
    webhookFailurePolicy: v.webhookFailurePolicy,
    capture: v.proxy.capture,
  };
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: TRUST_ROOTS_CONFIGMAP, namespace: CONTROL_PLANE_NS, labels: componentLabels('identity') },
      data: { 'ca-bundle.crt': identity.trustAnchorsPem },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CONFIG_CONFIGMAP, namespace: CONTROL_PLANE_NS, labels: { 'app.kubernetes.io/part-of': 'mesh' } },
      data: { 'values.json': `${JSON.stringify(settings, null, 2)}\n` },
    },
  ];
}

export function secrets(identity: IdentityMaterial, webhook: WebhookMaterial): object[] {
  const tls = (name: string, labels: object, crt: string, key: string, ca: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace: CONTROL_PLANE_NS, labels },
    data: { 'tls.crt': b64(crt), 'tls.key': b64(key), 'ca.crt': b64(ca) },
  });
  const out = [tls(INJECTOR_TLS_SECRET, componentLabels('injector'), webhook.certPem, webhook.keyPem, webhook.caPem)];
  // With an external issuer the Secret is cert-manager's to write: applying ours would fight it.
  if (identity.issuer) out.unshift(tls(ISSUER_SECRET, componentLabels('identity'), identity.issuer.crtPem, identity.issuer.keyPem, identity.trustAnchorsPem));
  return out;
}

interface Workload {
  component: Component;
  namespace: string;
  serviceAccount: string;
  replicas: number;
  command: string[];
  ports: Array<{ name: string; port: number }>;
  volumes: object[];
  mounts: object[];
  readiness: object;
  /** Variables beyond every controller's own (the pod's name, namespace and address). */
  env?: object[];
}

const trustRootsVolume = { name: 'trust-roots', configMap: { name: TRUST_ROOTS_CONFIGMAP } };
const trustRootsMount = { name: 'trust-roots', mountPath: MOUNTS.trustRoots, readOnly: true };
/** A projected token the component shows identity for its own certificate, as a proxy does. */
const tokenVolume = { name: 'identity-token', projected: { sources: [{ serviceAccountToken: { audience: 'identity.l5d.io', expirationSeconds: 86400, path: 'identity-token' } }] } };
const tokenMount = { name: 'identity-token', mountPath: MOUNTS.token, readOnly: true };

function workloads(v: InstallValues, identityAddr: string): Workload[] {
  const anchors = `${MOUNTS.trustRoots}/ca-bundle.crt`;
  const token = `${MOUNTS.token}/identity-token`;
  const tcp = (port: number) => ({ tcpSocket: { port }, periodSeconds: 5 });
  // A controller runs `mesh <component> serve --kubernetes` on its pod's address, in the control
  // plane's namespace under its own service account, with as many replicas as --ha asks for.
  const controller = (component: 'identity' | 'destination' | 'injector', flags: string[]) => ({
    component,
    namespace: CONTROL_PLANE_NS,
    serviceAccount: component,
    replicas: v.controllerReplicas,
    // `$(MESH_POD_IP):port` has no brackets in an IPv6 pod (the kubelet only substitutes); the
    // commands read it with api/host-port.ts, which takes the part after the last ':' as the port.
    command: ['mesh', component, 'serve', '--kubernetes', '--addr', `$(MESH_POD_IP):${PORTS[component]}`, ...flags],
  });
  return [
    {
      ...controller('identity', [
        '--issuer-secret', `${CONTROL_PLANE_NS}/${ISSUER_SECRET}`,
        '--trust-domain', v.identityTrustDomain,
        '--cert-lifetime', v.identity.issuer.issuanceLifetime,
      ]),
      ports: [{ name: 'grpc', port: PORTS.identity }],
      volumes: [trustRootsVolume],
      mounts: [trustRootsMount],
      readiness: tcp(PORTS.identity),
    },
    {
      ...controller('destination', [
        '--identity-addr', identityAddr, '--trust-anchors', anchors, '--token-file', token,
        '--cluster-domain', v.clusterDomain,
      ]),
      ports: [{ name: 'grpc', port: PORTS.destination }],
      volumes: [trustRootsVolume, tokenVolume],
      mounts: [trustRootsMount, tokenMount],
      readiness: tcp(PORTS.destination),
    },
    {
      ...controller('injector', [
        '--cert', `${MOUNTS.injectorTls}/tls.crt`, '--key', `${MOUNTS.injectorTls}/tls.key`,
        // The anchors go into every injected proxy's environment: a ConfigMap volume cannot reach across namespaces.
        '--trust-anchors', anchors,
        '--proxy-image', v.image.name, '--proxy-version', v.image.version,
        '--trust-domain', v.identityTrustDomain, '--cluster-domain', v.clusterDomain,
        '--capture', v.proxy.capture,
        // Its own pod's addresses tell the pods' families: a dual-stack cluster gives each pod one of each.
        '--pod-ips', '$(MESH_POD_IPS)',
      ]),
      env: [{ name: 'MESH_POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } }],
      ports: [{ name: 'https', port: PORTS.injector }],
      volumes: [trustRootsVolume, { name: 'tls', secret: { secretName: INJECTOR_TLS_SECRET } }],
      mounts: [trustRootsMount, { name: 'tls', mountPath: MOUNTS.injectorTls, readOnly: true }],
      readiness: { httpGet: { path: '/ready', port: PORTS.injector, scheme: 'HTTPS' }, periodSeconds: 5 },
    },
    {
      component: 'viz',
      namespace: VIZ_NS,
      serviceAccount: 'tap',
      replicas: 1,
      command: [
        'mesh', 'viz', 'serve',
        '--listen', `$(MESH_POD_IP):${PORTS.viz}`, '--dashboard', `$(MESH_POD_IP):${PORTS.dashboard}`,
        '--destination-addr', `destination.${CONTROL_PLANE_NS}.svc.${v.clusterDomain}:${PORTS.destination}`,
        '--identity-addr', identityAddr, '--trust-anchors', anchors, '--token-file', token,
        '--trust-domain', v.identityTrustDomain,
        // Linkerd viz's prometheusUrl: read that Prometheus's API instead of scraping the proxies.
        ...(v.prometheusUrl ? ['--prometheus', v.prometheusUrl] : []),
      ],
      ports: [{ name: 'http', port: PORTS.viz }, { name: 'dashboard', port: PORTS.dashboard }],
      // The viz lives in its own namespace, so it gets its own copy of the anchors' ConfigMap (trustRootsCopy).
      volumes: [trustRootsVolume, tokenVolume],
      mounts: [trustRootsMount, tokenMount],
      readiness: tcp(PORTS.viz),
    },
  ];
}

function deployment(w: Workload, v: InstallValues): object {
  const labels = componentLabels(w.component);
  const selector = { 'linkerd.io/control-plane-component': w.component };
  // --ha: no two replicas of a component on one node, so losing a node loses one replica.
  const affinity = v.enablePodAntiAffinity
    ? { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: selector }, topologyKey: 'kubernetes.io/hostname' }] } }
    : undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `mesh-${w.component}`, namespace: w.namespace, labels },
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: selector },
      strategy: { rollingUpdate: { maxUnavailable: v.enablePodAntiAffinity ? 1 : 0, maxSurge: v.enablePodAntiAffinity ? 0 : 1 } },
      template: {
        metadata: { labels: { ...labels }, annotations: { 'linkerd.io/inject': 'disabled' } },
        spec: {
          serviceAccountName: w.serviceAccount,
          ...(affinity ? { affinity } : {}),
          securityContext: { runAsNonRoot: true, runAsUser: 2103, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: w.component,
              image: `${v.image.name}:${v.image.version}`,
              imagePullPolicy: 'IfNotPresent',
              command: w.command,
              env: [
                { name: 'MESH_LOG_LEVEL', value: v.controllerLogLevel },
                { name: 'MESH_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'MESH_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                // Each component listens on its pod's address, not 0.0.0.0: the same in a cluster, and
                // where pods share one network namespace (the demo's node) two wildcards would clash.
                { name: 'MESH_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                ...(w.env ?? []),
              ],
              ports: w.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
              readinessProbe: w.readiness,
              livenessProbe: { tcpSocket: { port: w.ports[0]!.port }, initialDelaySeconds: 10, periodSeconds: 10 },
              resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '250Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: w.mounts,
            },
          ],
          volumes: w.volumes,
        },
      },
    },
  };
}

function service(w: Workload): object {
  // The injector's Service speaks 443, the port the API server calls a webhook Service on by default.
  const ports = w.component === 'injector'
    ? [{ name: 'https', port: 443, targetPort: PORTS.injector, protocol: 'TCP' }]
    : w.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: 'TCP' }));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: w.component, namespace: w.namespace, labels: componentLabels(w.component) },
    spec: { type: 'ClusterIP', selector: { 'linkerd.io/control-plane-component': w.component }, ports },
  };
}

/** The viz's namespace needs the anchors too: ConfigMap volumes are read from the pod's own namespace. */
function trustRootsCopy(identity: IdentityMaterial): object {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: TRUST_ROOTS_CONFIGMAP, namespace: VIZ_NS, labels: componentLabels('viz') },
    data: { 'ca-bundle.crt': identity.trustAnchorsPem },
  };
}

export function components(v: InstallValues, identity: IdentityMaterial): { deployments: object[]; services: object[]; extra: object[] } {
  const all = workloads(v, identityAddress(v));
  return { deployments: all.map((w) => deployment(w, v)), services: all.map(service), extra: [trustRootsCopy(identity)] };
}

/** The viz's Deployment alone, as `mesh install` renders it from the same values (`mesh viz install --set`). */
export function vizDeployment(v: InstallValues): object {
  return deployment(workloads(v, identityAddress(v)).find((w) => w.component === 'viz')!, v);
}

const identityAddress = (v: InstallValues) => `identity.${CONTROL_PLANE_NS}.svc.${v.clusterDomain}:${PORTS.identity}`;

/**
 * The API server calls the injector on every pod CREATE outside namespaces that opt out by label;
 * the injector itself decides by the linkerd.io/inject annotation (namespace or pod), which a
 * selector cannot read. `failurePolicy: Ignore`: a webhook that is down never blocks a pod.
 */
export function webhookConfiguration(v: InstallValues, webhook: WebhookMaterial): object {
  const clientConfig = v.proxyInjector.url
    ? { url: v.proxyInjector.url, caBundle: b64(webhook.caPem) }
    : { service: { name: 'injector', namespace: CONTROL_PLANE_NS, path: '/inject', port: 443 }, caBundle: b64(webhook.caPem) };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIGURATION, labels: componentLabels('injector') },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: {
          matchExpressions: [
            { key: 'config.linkerd.io/admission-webhooks', operator: 'NotIn', values: ['disabled'] },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', CONTROL_PLANE_NS, VIZ_NS] },
          ],
        },
        objectSelector: { matchExpressions: [{ key: 'linkerd.io/control-plane-component', operator: 'DoesNotExist' }] },
        failurePolicy: v.webhookFailurePolicy,
        // A pod is not injected twice, and the injector writes nothing else: no side effects.
        sideEffects: 'None',
        reinvocationPolicy: 'Never',
        admissionReviewVersions: ['v1', 'v1beta1'],
        timeoutSeconds: 10,
      },
    ],
  };
}
