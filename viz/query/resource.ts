// Resource names as `mesh viz` takes them, Linkerd's way: a kind (`deploy`, `po`, `ns`, `au`,
// `svc` and their long forms), optionally `/name`; `--from deploy/x`, `--to svc/y`.
import { VizError } from '../errors.ts';

export type ResourceKind = 'deployment' | 'pod' | 'namespace' | 'authority' | 'service';

const KINDS: Record<string, ResourceKind> = {
  deploy: 'deployment', deployment: 'deployment', deployments: 'deployment',
  po: 'pod', pod: 'pod', pods: 'pod',
  ns: 'namespace', namespace: 'namespace', namespaces: 'namespace',
  au: 'authority', authority: 'authority', authorities: 'authority',
  svc: 'service', service: 'service', services: 'service',
};

export interface ResourceRef {
  kind: ResourceKind;
  /** Absent: every resource of the kind. */
  name?: string;
  /** What `name` stands for, when it stands for several (deploy/orders: orders-stable, orders-canary; see pods/workloads.ts). */
  names?: string[];
}

/** The names a query matches: `names` when resolved, else `name`. */
export const namesOf = (ref: ResourceRef): string[] => ref.names ?? (ref.name ? [ref.name] : []);

/** The label the proxies' series carry for a kind (Linkerd's names). */
export const LABEL_OF: Record<ResourceKind, string> = {
  deployment: 'deployment', pod: 'pod', namespace: 'namespace', authority: 'authority', service: 'service',
};

const NAME = /^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/;

/** `deploy`, `deploy/checkout`, `po/checkout-0`; `what` names where it came from for the error. */
export function parseResource(text: string, what = 'resource'): ResourceRef {
  const slash = text.indexOf('/');
  const kindText = (slash < 0 ? text : text.slice(0, slash)).toLowerCase();
  const kind = KINDS[kindText];
  if (!kind) {
    throw new VizError('UNKNOWN_KIND', `${what}: unknown resource kind "${kindText}"; use deploy, po, ns, au or svc (or their long names: deployment, pod, namespace, authority, service)`);
  }
  if (slash < 0) return { kind };
  const name = text.slice(slash + 1);
  if (!NAME.test(name)) throw new VizError('BAD_ARGUMENT', `${what}: "${name}" is not a resource name (lower-case letters, digits, '-' and '.')`);
  return { kind, name };
}

export function formatResource(ref: ResourceRef): string {
  const short: Record<ResourceKind, string> = { deployment: 'deploy', pod: 'po', namespace: 'ns', authority: 'au', service: 'svc' };
  return ref.name ? `${short[ref.kind]}/${ref.name}` : short[ref.kind];
}
