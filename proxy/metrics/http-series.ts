// The HTTP series of one proxy, kept as plain counters keyed by label values and handed to
// prom-client only at scrape time.
//
// Why not `counter.inc(labels)` per request: prom-client hashes the whole label object on every
// call (measured 1-5 microseconds with our 15 label names); a request here costs one string key
// and one Map lookup per series instead. Scrapes (every few seconds) pay the conversion.
import type { MeshRequest } from '../http/message.ts';
import type { HttpLabeller, LabelInputs, LabelSet } from './http-labels.ts';
import { LatencyCounts } from './latency-histogram.ts';

export interface ResponseSeries {
  readonly labels: LabelSet;
  count: number;
}

/** One request label set: its request count and its responses by status and class. */
export class RequestSeries {
  requests = 0;
  /** response_latency_ms of this label set (latency-histogram.ts says why not prom-client's). */
  readonly latency = new LatencyCounts();
  readonly responses = new Map<string, ResponseSeries>();

  constructor(readonly labels: LabelSet) {}

  /** A new series with this one's counts so far (its response series copied, not shared). */
  copy(): RequestSeries {
    const c = new RequestSeries(this.labels);
    c.requests = this.requests;
    c.latency.buckets.set(this.latency.buckets);
    c.latency.sum = this.latency.sum;
    c.latency.count = this.latency.count;
    for (const [key, r] of this.responses) c.responses.set(key, { labels: r.labels, count: r.count });
    return c;
  }

  /**
   * The last response series handed out, by its raw inputs: nearly every response of a series
   * repeats the one before (200, success), and comparing four values is cheaper than building,
   * flattening and hashing the key string per response.
   */
  private last: { status: number; failed: boolean; grpcStatus: number | undefined; error: string | undefined; series: ResponseSeries } | undefined;

  response(status: number, failed: boolean, grpcStatus: number | undefined, error: string | undefined): ResponseSeries {
    const last = this.last;
    if (last !== undefined && last.status === status && last.failed === failed && last.grpcStatus === grpcStatus && last.error === error) {
      return last.series;
    }
    const key = `${status} ${failed} ${grpcStatus} ${error}`;
    let series = this.responses.get(key);
    if (!series) {
      const labels: LabelSet = { ...this.labels, status_code: String(status), classification: failed ? 'failure' : 'success' };
      if (grpcStatus !== undefined) labels.grpc_status = String(grpcStatus);
      if (error !== undefined) labels.error = error;
      series = { labels, count: 0 };
      this.responses.set(key, series);
    }
    this.last = { status, failed, grpcStatus, error, series };
    return series;
  }
}

/**
 * Series looked up lately, by their raw inputs. A request is looked up twice (entering, then at
 * its response, when inner layers have added labels), and consecutive requests mostly share
 * both label sets: comparing a dozen fields with `===` is cheaper than building the key string
 * (its concatenation and flattening were ~3% of the proxy's allocations).
 */
const RECENT_SLOTS = 4;

export class HttpSeriesTable {
  private readonly series = new Map<string, RequestSeries>();
  private readonly recentInputs: Array<LabelInputs | undefined> = new Array(RECENT_SLOTS).fill(undefined);
  private readonly recentSeries: Array<RequestSeries | undefined> = new Array(RECENT_SLOTS).fill(undefined);
  private nextSlot = 0;

  constructor(private readonly labeller: HttpLabeller) {}

  /** The series for the request's labels as its context says now. */
  of(req: MeshRequest): RequestSeries {
    for (let i = 0; i < RECENT_SLOTS; i++) {
      const inputs = this.recentInputs[i];
      if (inputs !== undefined && this.labeller.sameInputs(inputs, req)) return this.recentSeries[i]!;
    }
    const key = this.labeller.keyOf(req);
    let series = this.series.get(key);
    if (!series) {
      series = new RequestSeries(this.labeller.labelsOf(req));
      this.series.set(key, series);
    }
    this.recentInputs[this.nextSlot] = this.labeller.inputsOf(req);
    this.recentSeries[this.nextSlot] = series;
    this.nextSlot = (this.nextSlot + 1) % RECENT_SLOTS;
    return series;
  }

  all(): IterableIterator<RequestSeries> {
    return this.series.values();
  }
}
