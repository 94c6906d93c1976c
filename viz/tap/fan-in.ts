// Tap fanned in from many proxies: one Observe stream per selected pod (api/tap.proto, over
// mTLS as the viz's identity), merged into one ordered feed of lines, ended with one summary.
import { openTap, type OpenTap } from '../../api/tap-client.ts';
import type { TapEvent } from '../../api/tap-proto.ts';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';
import { VizError } from '../errors.ts';
import type { ProxyState } from '../metrics/scraper.ts';
import type { MeshPod } from '../pods/pod-watch.ts';
import { namesOf } from '../query/resource.ts';
import { tapMatch, type TapFilter } from './filter.ts';
import { joinHostPort } from '../../api/host-port.ts';

/** What a tap stream carries, one JSON object per line (api/viz.md, "tap"). */
export type TapLine =
  | { type: 'start'; pods: string[]; skipped: Array<{ pod: string; why: string }> }
  | ({ type: 'event'; pod: string } & Exclude<TapEvent, { event: 'tapEnd' }>)
  | { type: 'error'; pod: string; code: 'TAP_FAILED'; message: string }
  | { type: 'end'; reported: number; matched: number; dropped: number; message: string };

/** The pods `filter` selects, split into those that can be tapped and those that cannot (and why). */
export function selectPods(filter: TapFilter, proxies: ProxyState[]): { targets: ProxyState[]; skipped: Array<{ pod: string; why: string }> } {
  const { resource, namespace } = filter;
  const names = namesOf(resource);
  const chosen = proxies.filter((p) => p.pod.namespace === namespace &&
    (resource.kind === 'namespace' || names.includes(resource.kind === 'deployment' ? p.pod.deployment : p.pod.name)));
  if (chosen.length === 0) {
    const what = resource.kind === 'namespace' ? `namespace ${namespace}` : `${resource.kind} ${resource.name} in namespace ${namespace}`;
    throw new VizError('NOT_FOUND', `${what} has no pod with a proxy registered with the destination: it does not exist, is not running, or runs without a proxy (so it cannot be tapped)`);
  }
  const targets = chosen.filter((p) => p.ready);
  const skipped = chosen.filter((p) => !p.ready).map((p) => ({
    pod: `${p.pod.namespace}/${p.pod.name}`,
    why: `its proxy is not ready (${p.lastError ?? `/ready did not answer 200 at ${p.pod.ip}`})`,
  }));
  if (targets.length === 0) {
    throw new VizError('NOT_READY', `no selected pod can be tapped: ${skipped.map((s) => `${s.pod}: ${s.why}`).join('; ')}`);
  }
  return { targets, skipped };
}

export interface FanInOptions {
  filter: TapFilter;
  /** Registered pods by IP: a peer the proxy knows only by address is named from here. */
  podsByIp: Map<string, MeshPod>;
  targets: ProxyState[];
  skipped: Array<{ pod: string; why: string }>;
  credentials: TlsCredentials;
  tapPort: number;
  /** Called with each line, in order; returns false when the reader is behind (the line was dropped). */
  emit(line: TapLine): boolean;
}

/** Runs one tap over every target; resolves after the `end` line, or when cancelled. */
export class TapFanIn {
  private readonly taps: OpenTap[] = [];
  private cancelled = false;
  private reported = 0;
  private ended = 0;
  private matched = 0;
  private dropped = 0;
  private readonly startedAt = Date.now();
  readonly done: Promise<void>;

  constructor(private readonly options: FanInOptions) {
    this.done = this.run();
  }

  /** Stops every proxy's tap (the caller went away); no `end` line follows. */
  cancel(): void {
    this.cancelled = true;
    for (const t of this.taps) t.cancel();
  }

  private async run(): Promise<void> {
    const { filter, targets, skipped, credentials } = this.options;
    this.options.emit({ type: 'start', pods: targets.map((t) => `${t.pod.namespace}/${t.pod.name}`), skipped });
    const key = credentials.current();
    const match = tapMatch(filter);
    const perPodRps = Math.max(1, Math.ceil(filter.maxRps / targets.length));
    // The proxies end their taps at `duration`; this one ends ours if a proxy does not.
    const backstop = filter.durationMs > 0 ? setTimeout(() => this.stopAll(), filter.durationMs + 3_000) : undefined;
    await Promise.all(targets.map((t) => this.tapOne(t, {
      key: String(key.key), cert: String(key.cert), trustAnchorsPem: credentials.trustAnchorsPem,
      request: { match, maxRps: perPodRps, limit: filter.limit, durationMs: filter.durationMs, headers: [], journey: filter.journey },
    })));
    clearTimeout(backstop);
    if (this.cancelled) return;
    this.options.emit({ type: 'end', reported: this.reported, matched: this.matched, dropped: this.dropped, message: this.summary() });
  }

  private async tapOne(target: ProxyState, how: { key: string; cert: string; trustAnchorsPem: string; request: Parameters<typeof openTap>[1] }): Promise<void> {
    const pod = `${target.pod.namespace}/${target.pod.name}`;
    const address = joinHostPort(target.pod.ip, this.options.tapPort);
    let tap: OpenTap;
    try {
      tap = openTap({ address, key: how.key, cert: how.cert, trustAnchorsPem: how.trustAnchorsPem, proxyIdentity: target.pod.identity }, how.request);
    } catch (err) {
      this.options.emit({ type: 'error', pod, code: 'TAP_FAILED', message: `tap of ${pod} at ${address} could not start: ${(err as Error).message}` });
      return;
    }
    this.taps.push(tap);
    try {
      for await (const event of tap.events) {
        if (event.event === 'tapEnd') {
          this.matched += event.tapEnd.matched;
          this.dropped += event.tapEnd.dropped;
          continue;
        }
        if (event.event === 'responseEnd') {
          this.reported++;
          if (this.options.filter.limit > 0 && this.reported >= this.options.filter.limit) this.stopAll();
        }
        if (!this.options.emit({ type: 'event', pod, ...event, source: this.named(event.source), destination: this.named(event.destination) })) this.dropped++;
      }
    } catch (err) {
      if (this.cancelled || this.stopping) return;
      const e = err as { code?: number; details?: string; message: string };
      this.options.emit({ type: 'error', pod, code: 'TAP_FAILED', message: `tap of ${pod} at ${address} ended: ${describe(e)}` });
    } finally {
      tap.close();
      this.ended++;
    }
  }

  private stopping = false;

  /**
   * A peer with its pod, deployment and namespace filled in from the registered pods when the
   * proxy knew only its address (an inbound caller is an `ip:port` and an identity to its proxy).
   */
  private named(peer: TapEvent['source']): TapEvent['source'] {
    if (!peer || peer.pod || !peer.address) return peer;
    const ip = peer.address.replace(/^\[/, '').replace(/\]?:\d+$/, '');
    const pod = this.options.podsByIp.get(ip);
    return pod ? { ...peer, pod: pod.name, deployment: peer.deployment || pod.deployment, namespace: peer.namespace || pod.namespace } : peer;
  }

  /** Ends every tap on our side (limit reached, or a proxy outlived the duration); `end` still follows. */
  private stopAll(): void {
    this.stopping = true;
    for (const t of this.taps) t.cancel();
  }

  private summary(): string {
    const seconds = Math.round((Date.now() - this.startedAt) / 1000);
    const proxies = `${this.options.targets.length} ${this.options.targets.length === 1 ? 'proxy' : 'proxies'}`;
    if (this.reported === 0 && this.matched === 0) return `no request matched the filter in ${seconds}s (${proxies} tapped)`;
    return `${this.reported} requests reported in ${seconds}s from ${proxies}${this.dropped > 0 ? `, ${this.dropped} dropped by the rate cap or a slow reader` : ''}`;
  }
}

/** A gRPC failure in words a tapper can act on. */
function describe(e: { code?: number; details?: string; message: string }): string {
  switch (e.code) {
    case 14: return `the proxy cannot be reached or went away (UNAVAILABLE: ${e.details ?? e.message})`;
    case 7: return `the proxy refused the viz (PERMISSION_DENIED: ${e.details ?? e.message})`;
    case 8: return `the proxy serves too many taps already (RESOURCE_EXHAUSTED: ${e.details ?? e.message})`;
    case 3: return `the proxy refused the filter (INVALID_ARGUMENT: ${e.details ?? e.message})`;
    case 4: return `the proxy did not answer in time (DEADLINE_EXCEEDED)`;
    default: return e.details ?? e.message;
  }
}
