// One consistent view of every valid resource, with the lookups the index needs.
import type { Resource } from './resources.ts';

type ByKind<K extends Resource['kind']> = Extract<Resource, { kind: K }>;

export function resourceKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export class ResourceSet {
  private readonly byKind = new Map<string, Resource[]>();

  constructor(readonly all: ReadonlyMap<string, Resource>) {
    // Sorted by namespace/name so every consumer sees the same order (Linkerd orders conflicting
    // routes by age and then name; files carry no age, so name decides).
    const sorted = [...all.values()].sort((a, b) => `${a.meta.namespace}/${a.meta.name}`.localeCompare(`${b.meta.namespace}/${b.meta.name}`));
    for (const r of sorted) {
      const list = this.byKind.get(r.kind) ?? [];
      list.push(r);
      this.byKind.set(r.kind, list);
    }
  }

  ofKind<K extends Resource['kind']>(kind: K): ByKind<K>[] {
    return (this.byKind.get(kind) ?? []) as ByKind<K>[];
  }

  get<K extends Resource['kind']>(kind: K, namespace: string, name: string): ByKind<K> | undefined {
    return this.all.get(resourceKey(kind, namespace, name)) as ByKind<K> | undefined;
  }
}
