// Namespace annotations (linkerd.io/inject, config.linkerd.io/*) taken from Namespace objects in YAML,
// since on one machine there is no API server to ask.
import { isObject } from './workloads.ts';

export type NamespaceAnnotations = Map<string, Record<string, string>>;

/** Collects the annotations of every `kind: Namespace` among the documents (List items included). */
export function namespaceAnnotationsFrom(docs: unknown[]): NamespaceAnnotations {
  const found: NamespaceAnnotations = new Map();
  const visit = (doc: unknown): void => {
    if (!isObject(doc)) return;
    if (typeof doc.kind === 'string' && doc.kind.endsWith('List') && Array.isArray(doc.items)) doc.items.forEach(visit);
    if (doc.kind !== 'Namespace' || !isObject(doc.metadata) || typeof doc.metadata.name !== 'string') return;
    const annotations: Record<string, string> = {};
    if (isObject(doc.metadata.annotations)) {
      for (const [k, v] of Object.entries(doc.metadata.annotations)) if (typeof v === 'string') annotations[k] = v;
    }
    found.set(doc.metadata.name, annotations);
  };
  docs.forEach(visit);
  return found;
}
