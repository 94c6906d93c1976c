// Scrapes every registered pod's proxy: `/metrics` and `/ready` on its admin port, every
// interval (5 s by default), into each pod's history. A pod that leaves the mesh leaves the history.
import type { Logger } from 'pino';
import { parsePrometheus } from '../../api/prom-text.ts';
import type { MeshPod, PodWatch } from '../pods/pod-watch.ts';
import { PodHistory } from './history.ts';
import type { LocalMetrics } from './local-source.ts';
import { MAX_WINDOW_MS } from '../query/window.ts';
import { joinHostPort } from '../../api/host-port.ts';

export interface ScraperOptions {
  intervalMs: number;
  /** The proxies' admin port (4191). */
  adminPort: number;
  logger: Logger;
}

/** What the viz last heard from one pod's proxy. */
export interface ProxyState {
  pod: MeshPod;
  /** `/ready` answered 200 at the last scrape. */
  ready: boolean;
  /** Time of the last successful `/metrics` scrape (ms), 0 before the first. */
  lastScrapeMs: number;
  /** Why the last scrape failed, if it did. */
  lastError?: string;
}

export class Scraper {
  readonly proxies = new Map<string, ProxyState>();
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Rounds done so far. */
  scrapes = 0;

  constructor(
    private readonly pods: PodWatch,
    private readonly metrics: LocalMetrics | undefined,
    private readonly options: ScraperOptions,
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One round now, unless one is under way (a slow round is not stacked on by the next). */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.scrapeAll();
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round: every pod at once, each bounded by the interval. */
  async scrapeAll(): Promise<void> {
    const pods = this.pods.current();
    const keys = new Set(pods.map((p) => `${p.namespace}/${p.name}`));
    for (const key of this.proxies.keys()) {
      if (keys.has(key)) continue;
      this.proxies.delete(key);
      this.metrics?.pods.delete(key);
    }
    await Promise.all(pods.map((p) => this.scrape(p)));
    this.scrapes++;
  }

  private async scrape(pod: MeshPod): Promise<void> {
    const key = `${pod.namespace}/${pod.name}`;
    const state = this.proxies.get(key) ?? { pod, ready: false, lastScrapeMs: 0 };
    state.pod = pod;
    this.proxies.set(key, state);
    const base = `http://${joinHostPort(pod.ip, this.options.adminPort)}`;
    const timeout = Math.min(this.options.intervalMs, 4_000);
    const [ready, metrics] = await Promise.allSettled([
      fetch(`${base}/ready`, { signal: AbortSignal.timeout(timeout) }).then(async (r) => (await r.arrayBuffer(), r.status === 200)),
      this.metrics ? fetchText(`${base}/metrics`, timeout) : Promise.resolve(undefined),
    ]);
    state.ready = ready.status === 'fulfilled' && ready.value;
    if (metrics.status === 'rejected') {
      state.lastError = `${base}/metrics: ${(metrics.reason as Error).message}`;
      this.options.logger.debug({ pod: key, err: state.lastError }, 'scrape failed');
      return;
    }
    if (metrics.value === undefined || !this.metrics) return;
    let samples;
    try {
      samples = parsePrometheus(metrics.value);
    } catch (err) {
      state.lastError = `${base}/metrics: ${(err as Error).message.slice(0, 200)}`;
      this.options.logger.warn({ pod: key, err: state.lastError }, 'a proxy served metrics the viz cannot read');
      return;
    }
    let history = this.metrics.pods.get(key);
    if (!history || history.targetLabels.deployment !== pod.deployment) {
      const capacity = Math.ceil(MAX_WINDOW_MS / this.options.intervalMs) + 3;
      history = new PodHistory({ namespace: pod.namespace, pod: pod.name, deployment: pod.deployment }, capacity);
      this.metrics.pods.set(key, history);
    }
    const now = Date.now();
    history.add(now, samples);
    state.lastScrapeMs = now;
    state.lastError = undefined;
  }
}

/** A proxy's /metrics is a few hundred KiB at most; anything bigger is not a proxy. */
const MAX_METRICS_BYTES = 8 * 1024 * 1024;

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) {
    await res.arrayBuffer();
    throw new Error(`HTTP ${res.status}`);
  }
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > MAX_METRICS_BYTES) {
    await res.body?.cancel();
    throw new Error(`${length} bytes is more than a proxy's metrics (${MAX_METRICS_BYTES} at most)`);
  }
  const text = await res.text();
  if (text.length > MAX_METRICS_BYTES) throw new Error(`more than ${MAX_METRICS_BYTES} bytes`);
  return text;
}
