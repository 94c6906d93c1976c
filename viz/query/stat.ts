// `stat`: golden metrics per namespace, deployment, pod, authority or service over a window,
// asked of a MetricsSource in PromQL's terms, as Linkerd's viz asks its Prometheus.
import { VizError } from '../errors.ts';
import type { ProxyState } from '../metrics/scraper.ts';
import { eq, oneOf, type GroupValue, type Matcher, type MetricsSource } from '../metrics/source.ts';
import { LABEL_OF, namesOf, type ResourceKind, type ResourceRef } from './resource.ts';

export interface StatRequest {
  resource: ResourceRef;
  /** Only this namespace; absent: every namespace. */
  namespace?: string;
  /** Only traffic sent by this resource (measured at its outbound side). */
  from?: ResourceRef;
  /** Only traffic sent to this resource (measured at the selected resource's outbound side). */
  to?: ResourceRef;
  windowMs: number;
}

export interface StatRow {
  namespace: string;
  kind: ResourceKind;
  name: string;
  /** Pods with a ready proxy / registered pods; null where the kind has no pods (authority, service). */
  meshed: { ready: number; total: number } | null;
  /** Share of responses classified success, 0-1; null without traffic. */
  success: number | null;
  /** Responses per second. */
  rps: number;
  latencyMs: { p50: number; p95: number; p99: number } | null;
  /** Open TCP connections into the resource's proxies; null where not measured (traffic seen from a caller). */
  tcpConnections: number | null;
  /** Share of responses whose request went over mTLS, 0-1; null without traffic. */
  mtls: number | null;
  readBytesPerSec: number | null;
  writeBytesPerSec: number | null;
}

/** Where a question is measured: the series' direction, and which labels name the row. */
interface View {
  match: Matcher[];
  nsLabel: string;
  nameLabel: string;
  /** The tcp series (inbound only: outbound tcp series carry no dst_* labels). */
  tcp: boolean;
}

const DST_LABEL: Record<ResourceKind, string> = {
  deployment: 'dst_deployment', pod: 'dst_pod', namespace: 'dst_namespace', authority: 'authority', service: 'dst_service',
};

function viewOf(req: StatRequest): View {
  const kind = req.resource.kind;
  if (req.from && req.to) throw new VizError('BAD_ARGUMENT', '--from and --to cannot be used together');
  if (req.from) {
    // What the `from` resource sent, grouped by where it went.
    if (req.from.kind === 'authority' || req.from.kind === 'service') throw new VizError('BAD_ARGUMENT', `--from must be a deploy, pod or ns, got ${req.from.kind}`);
    const match = [eq('direction', 'outbound'), ...(req.from.name ? [oneOf(LABEL_OF[req.from.kind], namesOf(req.from))] : [])];
    return { match, nsLabel: kind === 'authority' ? 'namespace' : 'dst_namespace', nameLabel: DST_LABEL[kind], tcp: false };
  }
  if (req.to) {
    // What the selected resources sent to `to`, grouped by the sender.
    if (kind === 'authority' || kind === 'service') throw new VizError('BAD_ARGUMENT', `--to needs a deploy, pod or ns to measure at, got ${kind}`);
    const match = [eq('direction', 'outbound'), ...(req.to.name ? [oneOf(DST_LABEL[req.to.kind], namesOf(req.to))] : [])];
    return { match, nsLabel: 'namespace', nameLabel: LABEL_OF[kind], tcp: false };
  }
  if (kind === 'service') return { match: [eq('direction', 'outbound')], nsLabel: 'dst_namespace', nameLabel: 'dst_service', tcp: false };
  return { match: [eq('direction', 'inbound')], nsLabel: 'namespace', nameLabel: LABEL_OF[kind], tcp: true };
}

const keyOf = (ns: string, name: string) => `${ns}/${name}`;
const share = (part: number, whole: number) => Math.min(1, Math.max(0, part / whole));

export async function stat(req: StatRequest, source: MetricsSource, proxies: ProxyState[]): Promise<StatRow[]> {
  const view = viewOf(req);
  const kind = req.resource.kind;
  const match = [...view.match];
  if (req.namespace) match.push(eq(view.nsLabel, req.namespace));
  if (req.resource.name) match.push(oneOf(view.nameLabel, namesOf(req.resource)));
  const by = [view.nsLabel, view.nameLabel];
  const w = req.windowMs;
  const [all, ok, tls, p50, p95, p99, conns, read, written] = await Promise.all([
    source.rate('response_total', match, by, w),
    source.rate('response_total', [...match, eq('classification', 'success')], by, w),
    source.rate('response_total', [...match, eq('tls', 'true')], by, w),
    source.quantile(0.5, 'response_latency_ms', match, by, w),
    source.quantile(0.95, 'response_latency_ms', match, by, w),
    source.quantile(0.99, 'response_latency_ms', match, by, w),
    view.tcp ? source.latest('tcp_open_connections', match, by) : Promise.resolve([]),
    view.tcp ? source.rate('tcp_read_bytes_total', match, by, w) : Promise.resolve([]),
    view.tcp ? source.rate('tcp_write_bytes_total', match, by, w) : Promise.resolve([]),
  ]);
  const index = (rows: GroupValue[]) => new Map(rows.map((r) => [keyOf(r.labels[view.nsLabel] ?? '', r.labels[view.nameLabel] ?? ''), r.value]));
  const [okBy, tlsBy, p50By, p95By, p99By, connsBy, readBy, writtenBy] = [ok, tls, p50, p95, p99, conns, read, written].map(index);

  // Rows: every resource with traffic, plus every resource that has pods (idle ones show too).
  const rows = new Map<string, StatRow>();
  const row = (ns: string, name: string): StatRow => {
    const key = keyOf(ns, name);
    let r = rows.get(key);
    if (!r) {
      r = { namespace: ns, kind, name, meshed: null, success: null, rps: 0, latencyMs: null, tcpConnections: view.tcp ? 0 : null, mtls: null, readBytesPerSec: null, writeBytesPerSec: null };
      rows.set(key, r);
    }
    return r;
  };
  const podsByRow = podGroups(kind, proxies);
  if (!req.from && !req.to) {
    for (const [key, group] of podsByRow) {
      const [ns, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      if (req.namespace && ns !== req.namespace) continue;
      if (req.resource.name && !namesOf(req.resource).includes(name)) continue;
      row(ns, name).meshed = group;
    }
  }
  for (const g of all) {
    const ns = g.labels[view.nsLabel] ?? '';
    const name = g.labels[view.nameLabel] ?? '';
    if (name === '') continue; // series without the label (an older proxy): nothing to name the row by
    const r = row(ns, name);
    const key = keyOf(ns, name);
    r.rps = g.value;
    if (g.value > 0) {
      // Shares from separate queries: a Prometheus extrapolates each a little differently.
      r.success = share(okBy.get(key) ?? 0, g.value);
      r.mtls = share(tlsBy.get(key) ?? 0, g.value);
    }
    if (p50By.has(key)) r.latencyMs = { p50: p50By.get(key)!, p95: p95By.get(key) ?? NaN, p99: p99By.get(key) ?? NaN };
  }
  if (view.tcp) {
    for (const r of rows.values()) {
      const key = keyOf(r.namespace, r.name);
      r.tcpConnections = connsBy.get(key) ?? 0;
      r.readBytesPerSec = readBy.get(key) ?? 0;
      r.writeBytesPerSec = writtenBy.get(key) ?? 0;
      if (!r.meshed && podsByRow.has(key)) r.meshed = podsByRow.get(key)!;
    }
  }
  if (req.resource.name && rows.size === 0 && !req.from && !req.to && (kind === 'deployment' || kind === 'pod')) {
    throw new VizError('NOT_FOUND', `${kind} ${req.resource.name}${req.namespace ? ` in namespace ${req.namespace}` : ''} has no registered pod and no traffic in the last ${Math.round(w / 1000)}s`);
  }
  return [...rows.values()].sort((a, b) => keyOf(a.namespace, a.name).localeCompare(keyOf(b.namespace, b.name)));
}

/** Registered pods per row of `kind`, ready or not (authority and service rows have none). */
function podGroups(kind: ResourceKind, proxies: ProxyState[]): Map<string, { ready: number; total: number }> {
  const groups = new Map<string, { ready: number; total: number }>();
  if (kind === 'authority' || kind === 'service') return groups;
  for (const p of proxies) {
    const name = kind === 'deployment' ? p.pod.deployment : kind === 'pod' ? p.pod.name : p.pod.namespace;
    const key = keyOf(p.pod.namespace, name);
    const g = groups.get(key) ?? groups.set(key, { ready: 0, total: 0 }).get(key)!;
    g.total++;
    if (p.ready) g.ready++;
  }
  return groups;
}
