// Reads the demo's workloads from Kubernetes Deployment YAML, checking every field the runner
// uses, so a broken manifest ends with the file, the Deployment and the field at fault.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { codedError } from '../../../api/errors.ts';
// The destination's reader of untrusted YAML: one grammar of field errors across the mesh.
import { FieldError, Fields, shown } from '../../../destination/store/field-reader.ts';
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

export class ManifestError extends codedError('BAD_MANIFEST') {}

const kubeName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** The sidecar's own ports (DESIGN.md): an app that takes one would never get its traffic. */
const SIDECAR_PORTS = [4140, 4143, 4190, 4191];

function fieldError(path: string, problem: string): never {
  throw new FieldError(path, problem);
}

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
  let name = '';
  try {
    return readFields(Fields.of(value, ''), where, (n) => (name = n));
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    throw new ManifestError(`${where}${name ? ` (Deployment "${name}")` : ''}: ${err.path || '(document)'}: ${err.problem}`, { cause: err });
  }
}

function readFields(doc: Fields, source: string, named: (name: string) => void): Workload {
  if (doc.raw.apiVersion !== 'apps/v1' || doc.raw.kind !== 'Deployment') {
    doc.fail('kind', `the workloads folder holds apps/v1 Deployments only, got ${String(doc.raw.apiVersion)} ${String(doc.raw.kind)} (Services and policy go in the manifests folder)`);
  }
  const meta = doc.object('metadata');
  const name = meta.string('name');
  named(name);
  if (!kubeName.test(name)) meta.fail('name', 'must be a Kubernetes name: lowercase letters, digits and "-"');
  const namespace = meta.optionalString('namespace') ?? 'default';
  const spec = doc.object('spec');
  const replicas = spec.optionalInteger('replicas', 0, 20) ?? 1;
  const template = spec.object('template');
  const tmeta = template.optionalObject('metadata');
  const labels = tmeta?.stringMap('labels') ?? {};
  const selector = spec.optionalObject('selector')?.stringMap('matchLabels') ?? {};
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) spec.fail('selector.matchLabels', `${k}=${v} does not match the pod template's labels, so the Deployment would own no pods`);
  }
  const annotations = tmeta?.stringMap('annotations') ?? {};
  const inject = annotations['linkerd.io/inject'] ?? 'enabled';
  if (inject !== 'enabled' && inject !== 'disabled') template.fail('metadata.annotations.linkerd.io/inject', `must be "enabled" or "disabled", got ${JSON.stringify(inject)}`);
  const skip = (key: string): string => {
    const v = annotations[key];
    if (v === undefined) return '';
    return portList(v) ?? template.fail(`metadata.annotations.${key}`, `must be ports or ranges like 25,587,4000-4100, got ${JSON.stringify(v)}`);
  };
  const pod = template.object('spec');
  const serviceAccount = pod.optionalString('serviceAccountName') ?? 'default';
  const containers = pod.list('containers', (c, at) => Fields.of(c, at));
  if (containers.length !== 1) pod.fail('containers', 'must list exactly one container (the runner adds the sidecar itself)');
  const container = containers[0]!;
  if (!Array.isArray(container.raw.command) || container.raw.command.length === 0) {
    container.fail('command', `must be a non-empty list of strings, e.g. [node, bin/run.js, examples/orders-checkout/apps/orders.ts], got ${shown(container.raw.command)}`);
  }
  const command = container.list('command', (c, at) => (typeof c === 'string' && c !== '' ? c : fieldError(at, `must be a non-empty string, got ${shown(c)}`)));
  const env: Record<string, string> = {};
  container.list('env', (e, at) => {
    const entry = Fields.of(e, at);
    const envValue = entry.raw.value;
    if (typeof envValue !== 'string') return entry.fail('value', `must be a string (quote numbers: "0.2"), got ${shown(envValue)}`);
    env[entry.string('name')] = envValue;
  });
  const ports = container.list('ports', (p, at) => {
    const port = Fields.of(p, at);
    const n = port.optionalInteger('containerPort', 1, 65535) ?? port.fail('containerPort', 'is required');
    if (SIDECAR_PORTS.includes(n)) port.fail('containerPort', `${n} is the sidecar's own port (4140 outbound, 4143 inbound, 4190 tap, 4191 admin)`);
    return { name: port.optionalString('name'), containerPort: n };
  });
  const probes = readProbes(container, ports);
  const grace = pod.optionalInteger('terminationGracePeriodSeconds', 0, Number.MAX_SAFE_INTEGER) ?? 30;
  return {
    name, namespace, replicas, labels, serviceAccount, meshed: inject === 'enabled', command, env, ports,
    probes, terminationGraceSeconds: grace, source,
    skipInboundPorts: skip(CONFIG.skipInboundPorts), skipOutboundPorts: skip(CONFIG.skipOutboundPorts),
  };
}
