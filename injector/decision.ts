// Whether a pod template gets the sidecar, and if not, the reason an operator reads in the summary;
// the order of the checks follows linkerd's injector.
import { INJECT } from './annotations.ts';
import type { PodTemplate } from './workloads.ts';

export type InjectMode = 'enabled' | 'ingress';
export type Decision = { inject: true; mode: InjectMode } | { inject: false; reason: string };

/** Container names that mean "this pod already has a mesh proxy" (ours, or Linkerd's own). */
export const PROXY_CONTAINER = 'mesh-proxy';
const SIDECAR_NAMES = new Set([PROXY_CONTAINER, 'linkerd-proxy']);
const MODES = ['enabled', 'ingress', 'disabled'];

export function decide(
  template: PodTemplate,
  namespace: { name: string; annotations: Record<string, string> },
  assumeEnabled: boolean,
): Decision {
  const spec = template.spec;
  const all = [...spec.containers, ...(spec.initContainers ?? [])];
  const sidecar = all.find((c) => SIDECAR_NAMES.has(c.name));
  if (sidecar) return { inject: false, reason: `already injected (container ${sidecar.name})` };
  // The proxy would listen on the node's own addresses and capture the node's traffic.
  if (spec.hostNetwork === true) return { inject: false, reason: 'hostNetwork is enabled' };

  // The pod template's own annotation wins over its namespace's, as in Linkerd.
  const podValue = template.metadata?.annotations?.[INJECT];
  const nsValue = namespace.annotations[INJECT];
  const [value, where] =
    podValue !== undefined ? [podValue, 'annotation'] : nsValue !== undefined ? [nsValue, `namespace ${namespace.name} annotation`] : [undefined, ''];
  if (value === undefined) {
    if (assumeEnabled) return { inject: true, mode: 'enabled' };
    return { inject: false, reason: `neither the namespace ${namespace.name} nor the pod template has ${INJECT}: enabled` };
  }
  if (!MODES.includes(value)) return { inject: false, reason: `${where} ${INJECT}=${value} is not one of ${MODES.join(', ')}` };
  if (value === 'disabled') return { inject: false, reason: `${where} ${INJECT}=disabled` };
  return { inject: true, mode: value as InjectMode };
}
