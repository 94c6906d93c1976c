// Reads the demo's workloads from Kubernetes Deployment YAML, checking every field the runner
// uses, so a broken manifest ends with the file, the Deployment and the field at fault.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CodedError } from '../../../api/errors.ts';
import { readProbes, type ContainerProbes } from './probe-spec.ts';
import { CONFIG, portList } from '../../../injector/annotations.ts';

export interface Workload {
  name: string;
  namespace: string;
  replicas: number;
  labels: Record<string, string>;
  serviceAccount: string;
  /** false for `linkerd.io/inject: disabled`: the workload runs without a sidecar. */
  meshed: boolean;
  command: string[];
  env: Record<string, string>;
  ports: Array<{ name?: string; containerPort: number }>;
  /** readinessProbe, livenessProbe and startupProbe of its container, if declared. */
  probes: ContainerProbes;
  /** spec.template.spec.terminationGracePeriodSeconds (default 30, as Kubernetes's). */
  terminationGraceSeconds: number;
  /** Where it was read, for messages. */
  source: string;
  /** `config.linkerd.io/skip-inbound-ports` and `skip-outbound-ports` ('' when absent): ports `mesh proxy-init` leaves alone. */
  skipInboundPorts: string;
  skipOutboundPorts: string;
}

export class ManifestError extends CodedError<'BAD_MANIFEST'> {
  constructor(message: string, options?: ErrorOptions) {
    super('BAD_MANIFEST', message, options);
  }
}

const kubeName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
type Obj = Record<string, unknown>;

/** Every Deployment in the .yaml/.yml files of `dir`, in file then document order. */
export function readWorkloads(dir: string): Workload[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new ManifestError(`cannot read the workloads folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (files.length === 0) throw new ManifestError(`no .yaml files in the workloads folder ${dir}`);
  const workloads = files.flatMap((f) => parseWorkloads(readFileSync(join(dir, f), 'utf8'), join(dir, f)));
  const seen = new Set<string>();
  for (const w of workloads) {
    const key = `${w.namespace}/${w.name}`;
    if (seen.has(key)) throw new ManifestError(`${w.source}: Deployment ${key} is defined twice`);
    seen.add(key);
  }
  return workloads;
}

export function parseWorkloads(text: string, file: string): Workload[] {
  const out: Workload[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const where = `${file}: document ${i + 1}`;
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      throw new ManifestError(`${where}: YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`, { cause: e });
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return;
    out.push(readDeployment(value, where));
  });
  return out;
}

function readDeployment(value: unknown, where: string): Workload {
  const fail = (path: string, problem: string): never => {
    throw new ManifestError(`${where}${name ? ` (Deployment "${name}")` : ''}: ${path}: ${problem}`);
  };
  let name = '';
  const obj = (v: unknown, path: string): Obj =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : fail(path, `must be a mapping, got ${JSON.stringify(v) ?? 'nothing'}`);
  const str = (v: unknown, path: string): string => (typeof v === 'string' && v !== '' ? v : fail(path, `must be a non-empty string, got ${JSON.stringify(v) ?? 'nothing'}`));
  const labelsAt = (v: unknown, path: string): Record<string, string> => {
    const labels: Record<string, string> = {};
    for (const [k, val] of Object.entries(obj(v ?? {}, path))) labels[k] = str(val, `${path}.${k}`);
    return labels;
  };

  const doc = obj(value, '(document)');
  if (doc.apiVersion !== 'apps/v1' || doc.kind !== 'Deployment') {
    fail('kind', `the workloads folder holds apps/v1 Deployments only, got ${String(doc.apiVersion)} ${String(doc.kind)} (Services and policy go in the manifests folder)`);
  }
  const meta = obj(doc.metadata, 'metadata');
  name = str(meta.name, 'metadata.name');
  if (!kubeName.test(name)) fail('metadata.name', 'must be a Kubernetes name: lowercase letters, digits and "-"');
  const namespace = meta.namespace === undefined ? 'default' : str(meta.namespace, 'metadata.namespace');
  const spec = obj(doc.spec, 'spec');
  const replicas = spec.replicas ?? 1;
  if (!Number.isInteger(replicas) || (replicas as number) < 0 || (replicas as number) > 20) fail('spec.replicas', `must be an integer from 0 to 20, got ${JSON.stringify(replicas)}`);
  const template = obj(spec.template, 'spec.template');
  const tmeta = obj(template.metadata ?? {}, 'spec.template.metadata');
  const labels = labelsAt(tmeta.labels, 'spec.template.metadata.labels');
  const selector = labelsAt(obj(spec.selector ?? {}, 'spec.selector').matchLabels, 'spec.selector.matchLabels');
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) fail('spec.selector.matchLabels', `${k}=${v} does not match the pod template's labels, so the Deployment would own no pods`);
  }
  const annotations = labelsAt(tmeta.annotations, 'spec.template.metadata.annotations');
  const inject = annotations['linkerd.io/inject'] ?? 'enabled';
  const skip = (key: string): string => {
    const v = annotations[key];
    if (v === undefined) return '';
    return portList(v) ?? fail(`spec.template.metadata.annotations.${key}`, `must be ports or ranges like 25,587,4000-4100, got ${JSON.stringify(v)}`);
  };
  if (inject !== 'enabled' && inject !== 'disabled') fail('spec.template.metadata.annotations.linkerd.io/inject', `must be "enabled" or "disabled", got ${JSON.stringify(inject)}`);
  const pod = obj(template.spec, 'spec.template.spec');
  const serviceAccount = pod.serviceAccountName === undefined ? 'default' : str(pod.serviceAccountName, 'spec.template.spec.serviceAccountName');
  if (!Array.isArray(pod.containers) || pod.containers.length !== 1) {
    fail('spec.template.spec.containers', 'must list exactly one container (the runner adds the sidecar itself)');
  }
  const cpath = 'spec.template.spec.containers[0]';
  const container = obj((pod.containers as unknown[])[0], cpath);
  const command = container.command;
  if (!Array.isArray(command) || command.length === 0 || command.some((c) => typeof c !== 'string' || c === '')) {
    fail(`${cpath}.command`, 'must be a non-empty list of strings, e.g. [node, bin/run.js, examples/orders-checkout/apps/orders.ts]');
  }
  if (!Array.isArray(container.env ?? [])) fail(`${cpath}.env`, 'must be a list of {name, value}');
  if (!Array.isArray(container.ports ?? [])) fail(`${cpath}.ports`, 'must be a list of {name, containerPort}');
  const env: Record<string, string> = {};
  ((container.env ?? []) as unknown[]).forEach((e, i) => {
    const entry = obj(e, `${cpath}.env[${i}]`);
    const envName = str(entry.name, `${cpath}.env[${i}].name`);
    if (typeof entry.value !== 'string') fail(`${cpath}.env[${i}].value`, `must be a string (quote numbers: "0.2"), got ${JSON.stringify(entry.value) ?? 'nothing'}`);
    env[envName] = entry.value as string;
  });
  const ports = ((container.ports ?? []) as unknown[]).map((p, i) => {
    const port = obj(p, `${cpath}.ports[${i}]`);
    const n = port.containerPort;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 65535) fail(`${cpath}.ports[${i}].containerPort`, `must be a port number 1-65535, got ${JSON.stringify(n) ?? 'nothing'}`);
    if ([4140, 4143, 4190, 4191].includes(n as number)) fail(`${cpath}.ports[${i}].containerPort`, `${n} is the sidecar's own port (4140 outbound, 4143 inbound, 4190 tap, 4191 admin)`);
    return { name: port.name === undefined ? undefined : str(port.name, `${cpath}.ports[${i}].name`), containerPort: n as number };
  });
  const probes = readProbes(container, cpath, ports, fail);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!Number.isInteger(grace) || (grace as number) < 0) fail('spec.template.spec.terminationGracePeriodSeconds', `must be a non-negative integer, got ${JSON.stringify(grace)}`);
  return {
    name, namespace, replicas: replicas as number, labels, serviceAccount, meshed: inject === 'enabled', command: command as string[], env, ports,
    probes, terminationGraceSeconds: grace as number, source: where,
    skipInboundPorts: skip(CONFIG.skipInboundPorts), skipOutboundPorts: skip(CONFIG.skipOutboundPorts),
  };
}
