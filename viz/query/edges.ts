// `edges`: who calls whom, deployment to deployment (or pod to pod), with the caller's and the
// callee's identities and whether the hop is mTLS, from the callers' outbound series.
import { VizError } from '../errors.ts';
import type { ProxyState } from '../metrics/scraper.ts';
import { eq, type MetricsSource } from '../metrics/source.ts';
import type { ResourceKind } from './resource.ts';

export interface EdgeRow {
  srcNamespace: string;
  src: string;
  dstNamespace: string;
  dst: string;
  /** The callers' identities (from their registrations: the certificates their proxies hold). */
  clientId: string;
  /** The identities the callees' proxies proved (`server_id` of the callers' outbound series). */
  serverId: string;
  /** Every request of the edge went over mTLS. */
  secured: boolean;
  /** Why not, when not. */
  message: string;
  rps: number;
  success: number | null;
}

const LABELS: Partial<Record<ResourceKind, [string, string]>> = {
  deployment: ['deployment', 'dst_deployment'],
  pod: ['pod', 'dst_pod'],
};

export async function edges(kind: ResourceKind, namespace: string | undefined, windowMs: number, source: MetricsSource, proxies: ProxyState[]): Promise<EdgeRow[]> {
  const labels = LABELS[kind];
  if (!labels) throw new VizError('BAD_ARGUMENT', `edges are between deployments or pods: use "deploy" or "po", got ${kind}`);
  const [srcLabel, dstLabel] = labels;
  const match = [eq('direction', 'outbound'), ...(namespace ? [eq('namespace', namespace)] : [])];
  const by = ['namespace', srcLabel, 'dst_namespace', dstLabel, 'server_id', 'tls'];
  const [all, ok] = await Promise.all([
    source.rate('response_total', match, by, windowMs),
    source.rate('response_total', [...match, eq('classification', 'success')], by, windowMs),
  ]);
  const okBy = new Map(ok.map((g) => [JSON.stringify(g.labels), g.value]));
  const rows = new Map<string, EdgeRow & { tlsRps: number; okRps: number; servers: Set<string> }>();
  for (const g of all) {
    const l = g.labels;
    if (!l[srcLabel] || !l[dstLabel] || g.value <= 0) continue; // outside the mesh: no pod to name
    const key = [l.namespace, l[srcLabel], l.dst_namespace, l[dstLabel]].join('/');
    let row = rows.get(key);
    if (!row) {
      row = {
        srcNamespace: l.namespace!, src: l[srcLabel]!, dstNamespace: l.dst_namespace!, dst: l[dstLabel]!,
        clientId: clientIdOf(kind, l.namespace!, l[srcLabel]!, proxies), serverId: '', secured: false, message: '',
        rps: 0, success: null, tlsRps: 0, okRps: 0, servers: new Set(),
      };
      rows.set(key, row);
    }
    row.rps += g.value;
    row.okRps += okBy.get(JSON.stringify(l)) ?? 0;
    if (l.tls === 'true') row.tlsRps += g.value;
    if (l.server_id) row.servers.add(l.server_id);
  }
  return [...rows.values()].map(({ tlsRps, okRps, servers, ...row }) => {
    row.secured = tlsRps >= row.rps;
    row.serverId = [...servers].sort().join(',');
    row.success = row.rps > 0 ? okRps / row.rps : null;
    row.message = row.secured ? '' : tlsRps > 0 ? 'some requests without mTLS' : 'no mTLS (the destination has no proxy?)';
    return row;
  }).sort((a, b) => `${a.srcNamespace}/${a.src}>${a.dst}`.localeCompare(`${b.srcNamespace}/${b.src}>${b.dst}`));
}

function clientIdOf(kind: ResourceKind, namespace: string, name: string, proxies: ProxyState[]): string {
  const ids = new Set(proxies.filter((p) => p.pod.namespace === namespace && (kind === 'pod' ? p.pod.name === name : p.pod.deployment === name)).map((p) => p.pod.identity));
  return [...ids].sort().join(',');
}
