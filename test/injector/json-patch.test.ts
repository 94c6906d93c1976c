// The webhook's JSON Patch: applied by an independent RFC 6902 applier, it must rebuild the injected object.
import { describe, expect, it } from 'vitest';
import { inject } from '../../injector/inject.ts';
import { diff, pointerToken } from '../../injector/json-patch.ts';
import { defaultInjectOptions } from '../../injector/options.ts';
import { applyPatch } from './apply-patch.ts';
import { podSpec, workload } from './workloads.ts';

describe('json patch', () => {
  it('escapes ~ and / in keys (RFC 6901)', () => {
    expect(pointerToken('linkerd.io/inject')).toBe('linkerd.io~1inject');
    expect(pointerToken('a~b/c')).toBe('a~0b~1c');
    const ops = diff({ metadata: {} }, { metadata: { annotations: { 'linkerd.io/inject': 'enabled' } } });
    expect(ops).toEqual([{ op: 'add', path: '/metadata/annotations', value: { 'linkerd.io/inject': 'enabled' } }]);
    const more = diff({ a: { 'x/y': 1, 'p~q': 1 } }, { a: { 'x/y': 2 } });
    expect(more).toEqual([
      { op: 'remove', path: '/a/p~0q' },
      { op: 'replace', path: '/a/x~1y', value: 2 },
    ]);
  });

  it('round-trips arbitrary changes through the applier', () => {
    const pairs: Array<[unknown, unknown]> = [
      [{ a: [1, 2, 3] }, { a: [1, 2, 3, 4, 5] }],
      [{ a: [1, 2, 3] }, { a: [0, 1, 2, 3] }],
      [{ a: [{ x: 1 }, { x: 2 }] }, { a: [{ y: 0 }, { x: 1, z: 1 }, { x: 3 }] }],
      [{ a: [1, 2, 3] }, { a: [3] }],
      [{ a: 1, b: { c: [1] } }, { b: { c: 'now a string' }, d: null }],
      [[1, 2], { not: 'an array' }],
      [{ same: true }, { same: true }],
    ];
    for (const [before, after] of pairs) expect(applyPatch(before, diff(before, after))).toEqual(after);
  });

  it('puts the proxy first with an add at index 0, and appends volumes', () => {
    const pod = workload('Pod', { 'linkerd.io/inject': 'enabled' }, podSpec({ volumes: [{ name: 'data', emptyDir: {} }] }));
    const injected = inject(pod, defaultInjectOptions()).object;
    const ops = diff(pod, injected);
    expect(ops).toContainEqual(expect.objectContaining({ op: 'add', path: '/spec/containers/0' }));
    expect(ops.filter((o) => o.path === '/spec/volumes/-')).toHaveLength(2);
    expect(ops).toContainEqual(expect.objectContaining({ op: 'add', path: '/spec/containers/1/env' }));
    expect(ops).toContainEqual({ op: 'add', path: '/metadata/annotations/linkerd.io~1proxy-version', value: expect.any(String) });
    expect(applyPatch(pod, ops)).toEqual(injected);
  });
});
