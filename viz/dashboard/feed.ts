// The dashboard's one live data feed: a snapshot of the mesh (pods, stat per deployment, edges
// with their denied calls, ten minutes of per-deployment history for the sparklines), sent over
// SSE to every open page each scrape interval. Nothing is computed while no page is open,
// except one history sample per scrape interval, so a page opened later still has its ten minutes.
import type { ServerResponse } from 'node:http';
import { edges, type EdgeRow } from '../query/edges.ts';
import { stat, type StatRow } from '../query/stat.ts';
import { eq } from '../metrics/source.ts';
import type { VizContext } from '../viz.ts';

/** The sparkline's ten minutes. */
const HISTORY_MS = 600_000;

export interface HistorySeries {
  /** Seconds since the epoch, one per point. */
  t: number[];
  rps: number[];
  /** 0-1, or null where there was no traffic. */
  success: Array<number | null>;
}

export interface Snapshot {
  type: 'snapshot';
  at: string;
  pods: Array<{
    namespace: string; name: string; deployment: string; ip: string; identity: string; ready: boolean;
    /** The proxy's certificate expiry (ISO time), from its identity_cert_expiration_timestamp_seconds. */
    certExpiry: string | null;
    /** Times the proxy restarted while this viz watched (its process_start_time_seconds changed). */
    restarts: number;
  }>;
  deployments: StatRow[];
  edges: Array<EdgeRow & { deniedRps: number }>;
  /** By `namespace/deployment`. */
  history: Record<string, HistorySeries>;
  /** Whether the page can send a checkout (the viz was told where the demo's front door is). */
  canSendCheckout: boolean;
}

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly history = new Map<string, HistorySeries>();
  private timer: NodeJS.Timeout | undefined;
  private readonly sampler: NodeJS.Timeout;
  private latest: { at: number; text: string } | undefined;
  /** Per `namespace/pod`: the proxy's start time last seen, and the restarts counted so far. */
  private readonly starts = new Map<string, { start: number; restarts: number }>();

  /** One history point per scrape (a new point needs a new scrape), over two scrapes (a rate needs two). */
  private readonly stepMs: number;

  constructor(private readonly ctx: VizContext, private readonly canSendCheckout: boolean) {
    this.stepMs = ctx.options.scrapeIntervalMs;
    this.sampler = setInterval(() => void this.sample().catch(() => {}), this.stepMs);
    this.sampler.unref();
  }

  /** Streams snapshots to `res` until it closes; the first one at once. */
  subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
    // The browser reconnects by itself if the viz restarts; ask it to try again soon.
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stop();
    });
    const fresh = this.latest && Date.now() - this.latest.at < this.ctx.options.scrapeIntervalMs;
    if (fresh) res.write(this.latest!.text);
    else void this.push();
    this.timer ??= setInterval(() => void this.push(), this.ctx.options.scrapeIntervalMs);
  }

  close(): void {
    clearInterval(this.sampler);
    this.stop();
    for (const res of this.clients) res.end();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async push(): Promise<void> {
    let text: string;
    try {
      text = `event: snapshot\ndata: ${JSON.stringify(await this.snapshot())}\n\n`;
    } catch (err) {
      text = `event: problem\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`;
    }
    this.latest = { at: Date.now(), text };
    for (const res of this.clients) if (res.writableLength < 1024 * 1024) res.write(text);
  }

  async snapshot(): Promise<Snapshot> {
    const { ctx } = this;
    const proxies = [...ctx.scraper.proxies.values()];
    const [deployments, edgeRows, denied, expiries] = await Promise.all([
      stat({ resource: { kind: 'deployment' }, windowMs: 60_000 }, ctx.metrics, proxies),
      edges('deployment', undefined, 60_000, ctx.metrics, proxies),
      this.deniedRates(),
      ctx.metrics.latest('identity_cert_expiration_timestamp_seconds', [], ['namespace', 'pod']),
      this.countRestarts(),
    ]);
    const expiryOf = new Map(expiries.map((g) => [`${g.labels.namespace}/${g.labels.pod}`, g.value]));
    const history: Record<string, HistorySeries> = {};
    for (const [key, series] of this.history) history[key] = series;
    return {
      type: 'snapshot',
      at: new Date().toISOString(),
      pods: proxies.map((p) => {
        const key = `${p.pod.namespace}/${p.pod.name}`;
        const expiry = expiryOf.get(key);
        return {
          namespace: p.pod.namespace, name: p.pod.name, deployment: p.pod.deployment, ip: p.pod.ip, identity: p.pod.identity, ready: p.ready,
          certExpiry: expiry ? new Date(expiry * 1000).toISOString() : null, restarts: this.starts.get(key)?.restarts ?? 0,
        };
      }),
      deployments,
      edges: edgeRows.map((e) => ({ ...e, deniedRps: denied.get(`${e.srcNamespace}/${e.src}>${e.dstNamespace}/${e.dst}`) ?? 0 })),
      history,
      canSendCheckout: this.canSendCheckout,
    };
  }

  /** Calls refused by the callee's policy, per edge: gRPC PERMISSION_DENIED or HTTP 403, at the caller's side. */
  private async deniedRates(): Promise<Map<string, number>> {
    const by = ['namespace', 'deployment', 'dst_namespace', 'dst_deployment'];
    const out = eq('direction', 'outbound');
    const [grpc, http] = await Promise.all([
      this.ctx.metrics.rate('response_total', [out, eq('grpc_status', '7')], by, 60_000),
      this.ctx.metrics.rate('response_total', [out, eq('status_code', '403')], by, 60_000),
    ]);
    const rates = new Map<string, number>();
    for (const g of [...grpc, ...http]) {
      const l = g.labels;
      const key = `${l.namespace}/${l.deployment}>${l.dst_namespace}/${l.dst_deployment}`;
      rates.set(key, (rates.get(key) ?? 0) + g.value);
    }
    return rates;
  }

  /** A proxy whose start time moved has restarted (the pod keeps its name, as a container restarts). */
  private async countRestarts(): Promise<void> {
    for (const g of await this.ctx.metrics.latest('process_start_time_seconds', [], ['namespace', 'pod'])) {
      const key = `${g.labels.namespace}/${g.labels.pod}`;
      const seen = this.starts.get(key);
      if (!seen) this.starts.set(key, { start: g.value, restarts: 0 });
      else if (g.value !== seen.start) this.starts.set(key, { start: g.value, restarts: seen.restarts + 1 });
    }
  }

  /** One history point per deployment: RPS and success over the last step. */
  private async sample(): Promise<void> {
    await this.countRestarts();
    const rows = await stat({ resource: { kind: 'deployment' }, windowMs: 2 * this.stepMs }, this.ctx.metrics, [...this.ctx.scraper.proxies.values()]);
    const t = Math.round(Date.now() / 1000);
    for (const row of rows) {
      const key = `${row.namespace}/${row.name}`;
      const series = this.history.get(key) ?? this.history.set(key, { t: [], rps: [], success: [] }).get(key)!;
      series.t.push(t);
      series.rps.push(Math.round(row.rps * 100) / 100);
      series.success.push(row.success);
      if (series.t.length > HISTORY_MS / this.stepMs) {
        series.t.shift();
        series.rps.shift();
        series.success.shift();
      }
    }
  }
}
