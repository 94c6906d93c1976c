// A small RFC 6902 applier (add, remove, replace), written apart from the product's diff so the
// tests check the webhook's patch the way the API server would apply it.

type Op = { op: string; path: string; value?: unknown };

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`bad pointer ${pointer}`);
  return pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

export function applyPatch(doc: unknown, ops: Op[]): unknown {
  let root = structuredClone(doc);
  for (const { op, path, value } of ops) {
    const parts = tokens(path);
    if (parts.length === 0) {
      if (op !== 'replace' && op !== 'add') throw new Error(`${op} on the root`);
      root = structuredClone(value);
      continue;
    }
    const last = parts.pop()!;
    let parent: any = root;
    for (const p of parts) {
      if (parent === null || typeof parent !== 'object' || !(p in parent)) throw new Error(`${op} ${path}: no ${p}`);
      parent = Array.isArray(parent) ? parent[Number(p)] : parent[p];
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`${op} ${path}: index out of range`);
      if (op === 'add') parent.splice(index, 0, structuredClone(value));
      else if (index >= parent.length) throw new Error(`${op} ${path}: no element`);
      else if (op === 'replace') parent[index] = structuredClone(value);
      else if (op === 'remove') parent.splice(index, 1);
      else throw new Error(`unsupported op ${op}`);
    } else if (parent !== null && typeof parent === 'object') {
      if (op !== 'add' && !(last in parent)) throw new Error(`${op} ${path}: no member ${last}`);
      if (op === 'remove') delete parent[last];
      else if (op === 'add' || op === 'replace') parent[last] = structuredClone(value);
      else throw new Error(`unsupported op ${op}`);
    } else {
      throw new Error(`${op} ${path}: parent is not a container`);
    }
  }
  return root;
}
