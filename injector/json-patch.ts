// RFC 6902 JSON Patch from two versions of a document: what the webhook sends the API server so
// that it applies exactly the change `inject` made to the object it received.
import { isDeepStrictEqual } from 'node:util';
import { isObject } from './workloads.ts';

export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** RFC 6901: `~` and `/` inside a key are escaped (`linkerd.io/inject` -> `linkerd.io~1inject`). */
export function pointerToken(key: string | number): string {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The operations that turn `before` into `after`, applied in order. */
export function diff(before: unknown, after: unknown, path = ''): PatchOp[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) return diffObjects(before, after, path);
  if (Array.isArray(before) && Array.isArray(after) && after.length >= before.length) return diffGrownArray(before, after, path);
  return [{ op: 'replace', path, value: after }];
}

function diffObjects(before: Record<string, unknown>, after: Record<string, unknown>, path: string): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: `${path}/${pointerToken(key)}` });
  }
  for (const [key, value] of Object.entries(after)) {
    const at = `${path}/${pointerToken(key)}`;
    if (!Object.hasOwn(before, key)) ops.push({ op: 'add', path: at, value });
    else ops.push(...diff(before[key], value, at));
  }
  return ops;
}

/**
 * The injector only grows arrays: at the end (volumes) or at the front (the proxy container). For
 * growth at the end: element-wise changes, then appends with `-`. Otherwise the new leading
 * elements are inserted at 0..k-1 and the old element i is compared with the new element i+k.
 * Either way the patch is correct for any arrays; it is only shortest for those two shapes.
 */
function diffGrownArray(before: unknown[], after: unknown[], path: string): PatchOp[] {
  const grown = after.length - before.length;
  const appended = before.every((item, i) => isDeepStrictEqual(item, after[i]));
  const ops: PatchOp[] = [];
  if (appended || grown === 0) {
    before.forEach((item, i) => ops.push(...diff(item, after[i], `${path}/${i}`)));
    for (const item of after.slice(before.length)) ops.push({ op: 'add', path: `${path}/-`, value: item });
    return ops;
  }
  for (let i = 0; i < grown; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: after[i] });
  before.forEach((item, i) => ops.push(...diff(item, after[i + grown], `${path}/${i + grown}`)));
  return ops;
}
