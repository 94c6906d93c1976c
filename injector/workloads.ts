// Kubernetes shapes the injector touches, where each workload kind keeps its pod template, and
// the checks that turn a malformed object into an error naming the field.
import { InjectorError } from './errors.ts';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  [field: string]: unknown;
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
}
export interface Container {
  name: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  [field: string]: unknown;
}
export interface Volume {
  name: string;
  [field: string]: unknown;
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  serviceAccountName?: string;
  [field: string]: unknown;
}
export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

/** Where the pod template sits in each kind the injector knows; a Pod is its own template. */
const TEMPLATE_PATH: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export function isWorkloadKind(kind: unknown): kind is string {
  return typeof kind === 'string' && Object.hasOwn(TEMPLATE_PATH, kind);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `deployment/orders`, the name an operator types after `kubectl get`. */
export function resourceName(obj: Record<string, unknown>): string {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '<unnamed>';
  return `${String(obj.kind).toLowerCase()}/${name}`;
}

/** The pod template of a workload, checked field by field; throws INVALID_WORKLOAD naming the bad field. */
export function podTemplateOf(workload: Record<string, unknown>): { template: PodTemplate; field: string } {
  const path = TEMPLATE_PATH[String(workload.kind)]!;
  let node: unknown = workload;
  for (let i = 0; i < path.length; i++) {
    node = (node as Record<string, unknown>)[path[i]!];
    if (!isObject(node)) fail(workload, path.slice(0, i + 1).join('.'), 'expected an object');
  }
  const field = path.join('.');
  checkTemplate(workload, node as Record<string, unknown>, field === '' ? '' : `${field}.`);
  return { template: node as unknown as PodTemplate, field };
}

function fail(workload: Record<string, unknown>, field: string, problem: string): never {
  throw new InjectorError('INVALID_WORKLOAD', `${resourceName(workload)}: ${field}: ${problem}`);
}

function checkTemplate(workload: Record<string, unknown>, t: Record<string, unknown>, at: string): void {
  const bad = (field: string, problem: string): never => fail(workload, `${at}${field}`, problem);
  if (t.metadata !== undefined) {
    if (!isObject(t.metadata)) bad('metadata', 'expected an object');
    const meta = t.metadata as Record<string, unknown>;
    for (const map of ['annotations', 'labels']) {
      if (meta[map] === undefined || meta[map] === null) continue;
      if (!isObject(meta[map])) bad(`metadata.${map}`, 'expected a map of strings');
      for (const [k, v] of Object.entries(meta[map] as object)) {
        if (typeof v !== 'string') bad(`metadata.${map}["${k}"]`, `expected a string, got ${typeof v}`);
      }
    }
  }
  if (!isObject(t.spec)) bad('spec', 'expected an object');
  const spec = t.spec as Record<string, unknown>;
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) bad('spec.containers', 'expected a non-empty list');
  checkContainers(spec.containers as unknown[], `spec.containers`, bad);
  if (spec.initContainers !== undefined) {
    if (!Array.isArray(spec.initContainers)) bad('spec.initContainers', 'expected a list');
    checkContainers(spec.initContainers as unknown[], 'spec.initContainers', bad);
  }
  if (spec.volumes !== undefined) {
    if (!Array.isArray(spec.volumes)) bad('spec.volumes', 'expected a list');
    (spec.volumes as unknown[]).forEach((v, i) => {
      if (!isObject(v) || typeof v.name !== 'string') bad(`spec.volumes[${i}].name`, 'expected a string');
    });
  }
  if (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== 'boolean') bad('spec.hostNetwork', 'expected true or false');
  if (spec.serviceAccountName !== undefined && typeof spec.serviceAccountName !== 'string') bad('spec.serviceAccountName', 'expected a string');
}

function checkContainers(list: unknown[], at: string, bad: (field: string, problem: string) => never): void {
  list.forEach((c, i) => {
    const here = `${at}[${i}]`;
    if (!isObject(c)) bad(here, 'expected an object');
    const container = c as Record<string, unknown>;
    if (typeof container.name !== 'string' || container.name === '') bad(`${here}.name`, 'expected a non-empty string');
    if (container.env !== undefined) {
      if (!Array.isArray(container.env)) bad(`${here}.env`, 'expected a list');
      (container.env as unknown[]).forEach((e, j) => {
        if (!isObject(e) || typeof e.name !== 'string') bad(`${here}.env[${j}].name`, 'expected a string');
      });
    }
    if (container.ports !== undefined) {
      if (!Array.isArray(container.ports)) bad(`${here}.ports`, 'expected a list');
      (container.ports as unknown[]).forEach((p, j) => {
        const port = isObject(p) ? p.containerPort : undefined;
        if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
          bad(`${here}.ports[${j}].containerPort`, 'expected an integer from 1 to 65535');
        }
      });
    }
  });
}
