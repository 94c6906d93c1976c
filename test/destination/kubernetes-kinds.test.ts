// Kubernetes mode reads every kind the store understands: a kind added to the store's parsers but
// not to the API source's watched kinds is silently never read from a cluster (GRPCRoute was), and
// a watched kind the installed RBAC does not grant fails the destination's start.
import { describe, expect, it } from 'vitest';
import { WATCHED_KINDS } from '../../destination/kubernetes/api-source.ts';
import { SUPPORTED_KINDS } from '../../destination/store/kinds/index.ts';
import { rbac } from '../../install/rbac.ts';

describe('the kinds Kubernetes mode watches', () => {
  it('include every kind the store parses', () => {
    const watched = new Set(WATCHED_KINDS.map((k) => k.kind));
    expect(SUPPORTED_KINDS.filter((kind) => !watched.has(kind))).toEqual([]);
  });

  it('are each granted list and watch to the destination by mesh install', () => {
    const role = rbac('destination').find((o) => (o as { kind: string }).kind === 'ClusterRole') as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    const granted = (group: string, plural: string, verb: string) =>
      role.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(plural) && r.verbs.includes(verb));
    const missing = WATCHED_KINDS.filter((k) => !granted(k.group, k.plural, 'list') || !granted(k.group, k.plural, 'watch'));
    expect(missing.map((k) => `${k.plural}.${k.group}`)).toEqual([]);
  });
});
