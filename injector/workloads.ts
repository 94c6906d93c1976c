// Kubernetes shapes the injector touches, where each workload kind keeps its pod template, and
// the checks that turn a malformed object into an error naming the field.
// The destination's reader of untrusted YAML, reused: one grammar of field errors in the mesh.
import { FieldError, Fields } from '../destination/store/field-reader.ts';
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
  try {
    let node = Fields.of(workload, '');
    for (const key of path) node = node.object(key);
    checkTemplate(node);
    return { template: node.raw as unknown as PodTemplate, field: node.path };
  } catch (err) {
    if (err instanceof FieldError) throw new InjectorError('INVALID_WORKLOAD', `${resourceName(workload)}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Every field of the template that injection reads or writes, so a patch never lands on a malformed one. */
function checkTemplate(template: Fields): void {
  const meta = template.optionalObject('metadata');
  meta?.stringMap('annotations');
  meta?.stringMap('labels');
  const spec = template.object('spec');
  if (spec.list('containers', checkContainer).length === 0) spec.fail('containers', 'must list at least one container');
  spec.list('initContainers', checkContainer);
  spec.list('volumes', (v, at) => Fields.of(v, at).string('name'));
  spec.optionalBoolean('hostNetwork');
  spec.optionalString('serviceAccountName');
}

function checkContainer(value: unknown, at: string): void {
  const container = Fields.of(value, at);
  container.string('name');
  container.list('env', (e, p) => Fields.of(e, p).string('name'));
  container.list('ports', (p, where) => {
    const port = Fields.of(p, where);
    if (port.optionalInteger('containerPort', 1, 65535) === undefined) port.fail('containerPort', 'is required');
  });
}
