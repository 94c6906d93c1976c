// The injector's one pure function: a Kubernetes object in, the same object with the mesh-proxy
// sidecar added (or left alone, with the reason) out. The CLI and the webhook both call it.
import { isDeepStrictEqual } from 'node:util';
import { IDENTITY_MODE, PROXY_VERSION, proxyConfig, type ProxyConfig } from './annotations.ts';
import { decide, type InjectMode } from './decision.ts';
import type { InjectOptions } from './options.ts';
import { appEnv, PORTS, proxyContainer, proxyInitContainer, proxyVolumes, VOLUMES, type PodFacts } from './sidecar.ts';
import { isObject, isWorkloadKind, podTemplateOf, resourceName, type Container, type PodTemplate } from './workloads.ts';

/** One line of the summary: `deployment/orders injected`, or skipped with the reason. */
export interface InjectReport {
  resource: string;
  injected: boolean;
  reason?: string;
  /** Overrides that were ignored, settings that were replaced: injection went ahead anyway. */
  warnings: string[];
}

export interface InjectResult {
  object: unknown;
  reports: InjectReport[];
}

/**
 * Injects a workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
 * Job, CronJob) or each item of a List. Other objects come back as they are, without a report.
 * The input is never modified. `namespace` is the fallback when the object names none (a Pod in
 * an AdmissionReview). Throws INVALID_WORKLOAD, naming the field, for a malformed workload.
 */
export function inject(obj: unknown, options: InjectOptions, namespace = 'default'): InjectResult {
  if (!isObject(obj)) return { object: obj, reports: [] };
  if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
    const results = obj.items.map((item) => inject(item, options, namespace));
    return { object: { ...obj, items: results.map((r) => r.object) }, reports: results.flatMap((r) => r.reports) };
  }
  if (!isWorkloadKind(obj.kind)) return { object: obj, reports: [] };

  const resource = resourceName(obj);
  const copy = structuredClone(obj);
  const { template } = podTemplateOf(copy);
  const meta = isObject(copy.metadata) ? copy.metadata : {};
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : namespace;
  const nsAnnotations = options.namespaceAnnotations(ns) ?? {};

  const skipped = (reason: string): InjectResult => ({ object: obj, reports: [{ resource, injected: false, reason, warnings: [] }] });
  const decision = decide(template, { name: ns, annotations: nsAnnotations }, options.assumeEnabled);
  if (!decision.inject) return skipped(decision.reason);
  const conflict = conflictIn(template);
  if (conflict) return skipped(conflict);

  const { config, warnings } = proxyConfig(options.proxy, nsAnnotations, template.metadata?.annotations ?? {});
  if ((copy.kind === 'Job' || copy.kind === 'CronJob') && !config.nativeSidecar) {
    warnings.push(
      'the proxy keeps running after the job\'s containers exit, so the job never completes; set config.alpha.linkerd.io/proxy-enable-native-sidecar: "true" (Kubernetes 1.29+)',
    );
  }
  // The preStop sleep is spent out of the pod's grace period (Kubernetes' default 30 s); one as long
  // leaves the proxy no time to drain before the kubelet kills it.
  const grace = typeof template.spec.terminationGracePeriodSeconds === 'number' ? template.spec.terminationGracePeriodSeconds : 30;
  if (config.waitBeforeExitSeconds > 0 && config.waitBeforeExitSeconds >= grace) {
    warnings.push(
      `proxy-wait-before-exit-seconds ${config.waitBeforeExitSeconds} is not less than the pod's terminationGracePeriodSeconds (${grace}): the kubelet kills the proxy when the grace period ends, before it drains; raise terminationGracePeriodSeconds`,
    );
  }
  // Markers first: the labels the proxy registers are the ones the pod will carry.
  const owner = copy.kind === 'Pod' ? deploymentOfPod(meta) : { kind: String(copy.kind), name: meta.name };
  markInjected(template, config.version, options, ns, owner);
  addSidecar(template, decision.mode, config, options, warnings);
  return { object: copy, reports: [{ resource, injected: true, warnings }] };
}

/** A port or volume the sidecar needs is taken: injecting would make a pod that cannot start. */
function conflictIn(template: PodTemplate): string | undefined {
  const proxyPorts = new Map<number, string>([
    [PORTS.outbound, 'outbound'],
    [PORTS.inbound, 'inbound'],
    [PORTS.admin, 'admin'],
    [PORTS.tap, 'tap'],
  ]);
  for (const c of template.spec.containers) {
    for (const p of c.ports ?? []) {
      const role = proxyPorts.get(p.containerPort);
      if (role) return `container ${c.name} already uses port ${p.containerPort}, the proxy's ${role} port`;
    }
  }
  const taken = new Set((template.spec.volumes ?? []).map((v) => v.name));
  const clash = Object.values(VOLUMES).find((name) => taken.has(name));
  return clash ? `the pod already has a volume named ${clash}` : undefined;
}

function addSidecar(
  template: PodTemplate,
  mode: InjectMode,
  config: ProxyConfig,
  options: InjectOptions,
  warnings: string[],
): void {
  const spec = template.spec;
  const ports: PodFacts['ports'] = [];
  for (const p of spec.containers.flatMap((c) => c.ports ?? [])) {
    if ((p.protocol ?? 'TCP') !== 'TCP' || ports.some((q) => q.port === p.containerPort)) continue;
    ports.push(p.name ? { name: p.name, port: p.containerPort } : { port: p.containerPort });
  }
  const labels = template.metadata?.labels ?? {};
  // markInjected put the owner's name in Linkerd's label when the workload is a Deployment.
  const pod: PodFacts = { labels, ports, deployment: labels['linkerd.io/proxy-deployment'] };
  // With proxy-init the apps need no settings: their TCP is redirected to the proxy.
  if (options.capture === 'http-proxy') for (const app of spec.containers) routeThroughProxy(app, options.podIpFamily, warnings);
  const sidecar = proxyContainer(config, mode, pod, options);
  // First in the list: the kubelet starts containers in order, so the proxy gets a head start on the
  // app (and, not native, holds the app back until it is ready: its postStart hook).
  const inits = [
    ...(options.capture === 'iptables' ? [proxyInitContainer(config, options.podIpFamily, warnings)] : []),
    ...(config.nativeSidecar ? [sidecar] : []),
  ];
  if (inits.length > 0) spec.initContainers = [...inits, ...(spec.initContainers ?? [])];
  if (!config.nativeSidecar) spec.containers = [sidecar, ...spec.containers];
  spec.volumes = [...(spec.volumes ?? []), ...proxyVolumes(options)];
}

/** Appends POD_IP and the proxy variables; an app's own HTTP_PROXY would bypass the mesh, so it is replaced, with a warning. */
function routeThroughProxy(app: Container, podIpFamily: InjectOptions['podIpFamily'], warnings: string[]): void {
  const env = [...(app.env ?? [])];
  for (const wanted of appEnv(podIpFamily)) {
    const i = env.findIndex((e) => e.name === wanted.name);
    if (i < 0) {
      env.push(wanted);
      continue;
    }
    // An identical POD_IP can stay where it is: it is still defined before the variables that use it.
    if (wanted.name === 'POD_IP' && isDeepStrictEqual(env[i], wanted)) continue;
    const was = env[i]!;
    if (!isDeepStrictEqual(was, wanted)) {
      const shown = was.value !== undefined ? `"${was.value}"` : 'a valueFrom reference';
      warnings.push(`container ${app.name}: ${wanted.name} was ${shown}; replaced so its traffic goes through the proxy`);
    }
    env.splice(i, 1);
    env.push(wanted);
  }
  app.env = env;
}

/**
 * The Deployment a Pod belongs to, read from its owner: a ReplicaSet named `<deployment>-<hash>`
 * whose hash is the pod's `pod-template-hash` label, as the Deployment controller names them.
 * The webhook sees Pods, not Deployments, and the proxy's metrics carry the Deployment's name.
 */
function deploymentOfPod(meta: Record<string, unknown>): { kind: string; name: unknown } | undefined {
  const owners = Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [];
  const rs = owners.find((o) => isObject(o) && o.kind === 'ReplicaSet' && o.controller === true);
  const hash = isObject(meta.labels) ? meta.labels['pod-template-hash'] : undefined;
  if (!isObject(rs) || typeof rs.name !== 'string' || typeof hash !== 'string' || !rs.name.endsWith(`-${hash}`)) return undefined;
  return { kind: 'Deployment', name: rs.name.slice(0, -hash.length - 1) };
}

function markInjected(
  template: PodTemplate,
  version: string,
  options: InjectOptions,
  namespace: string,
  owner: { kind: string; name: unknown } | undefined,
): void {
  const meta = (template.metadata ??= {});
  meta.annotations = { ...meta.annotations, [PROXY_VERSION]: version, [IDENTITY_MODE]: 'default' };
  const labels: Record<string, string> = {
    'linkerd.io/control-plane-ns': options.controlPlaneNamespace,
    'linkerd.io/workload-ns': namespace,
  };
  if (owner && typeof owner.name === 'string') labels[`linkerd.io/proxy-${owner.kind.toLowerCase()}`] = owner.name;
  meta.labels = { ...meta.labels, ...labels };
}
