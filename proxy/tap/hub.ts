// The taps open on one proxy and their bounds: how many at once, how many requests a second
// each may report, how many in all. The request path reads `hub.taps` (an empty array when
// nobody taps) and does nothing else unless it holds a tap.
import { encodeTapEvent, joinTapEvent } from '../../api/tap-encode.ts';
import type { ObserveRequest, TapEnd } from '../../api/tap-proto.ts';
import { TapError } from './errors.ts';
import { compileMatch, type Matcher } from './match.ts';

export interface TapLimits {
  /** Most taps open at once on this proxy. */
  maxTaps: number;
  /** Most requests a second one tap reports (and the default). */
  maxRps: number;
  /** Most requests one tap reports in all (and the default). */
  maxLimit: number;
  /** Events queued for a slow reader before new requests are dropped instead. */
  maxBacklog: number;
}

export const DEFAULT_TAP_LIMITS: TapLimits = { maxTaps: 4, maxRps: 100, maxLimit: 1_000, maxBacklog: 300 };

/** Where one tap's events go, encoded (api/tap-encode.ts): the gRPC call, seen through what the hub needs of it. */
export interface TapSink {
  write(event: Buffer): void;
  /** Events written but not yet taken by the network. */
  backlog(): number;
  /** Ends the stream after what was written. */
  end(): void;
}

/** One open tap: its filter, its bounds and its counts. */
export class Tap {
  readonly matcher: Matcher;
  readonly limit: number;
  readonly maxRps: number;
  readonly journey: boolean;
  /** Header names to include; undefined: all. */
  readonly headers: ReadonlySet<string> | undefined;
  /** Requests that matched, reported or not. */
  matched = 0;
  /** Requests reported (their request_init sent). */
  admitted = 0;
  /** Requests that matched but were not reported (rate cap, slow reader). */
  dropped = 0;
  /** Reported requests whose end event has not been sent yet. */
  inFlight = 0;
  closed = false;
  private tokens: number;
  private refilledAt = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    request: ObserveRequest,
    limits: TapLimits,
    readonly sink: TapSink,
    private readonly hub: TapHub,
    private readonly maxBacklog: number,
  ) {
    this.matcher = compileMatch(request.match);
    this.limit = clamp(request.limit, limits.maxLimit);
    this.maxRps = clamp(request.maxRps, limits.maxRps);
    this.journey = request.journey === true;
    const names = (request.headers ?? []).map((h) => h.toLowerCase()).filter((h) => h !== '');
    this.headers = names.length > 0 ? new Set(names) : undefined;
    // Start with one second's worth, so a tap opened during a burst reports at once.
    this.tokens = this.maxRps;
    const durationMs = request.durationMs ?? 0;
    if (durationMs > 0) this.timer = setTimeout(() => this.finish('DURATION'), durationMs);
  }

  /** A matching request: true when it is to be reported, else it is counted as dropped. */
  admit(): boolean {
    if (this.closed || this.admitted >= this.limit) return false;
    this.matched++;
    const now = performance.now();
    this.tokens = Math.min(this.maxRps, this.tokens + ((now - this.refilledAt) / 1000) * this.maxRps);
    this.refilledAt = now;
    if (this.tokens < 1 || this.sink.backlog() > this.maxBacklog) {
      this.dropped++;
      return false;
    }
    this.tokens -= 1;
    this.admitted++;
    this.inFlight++;
    return true;
  }

  /** One event of a reported request: its request's shared fields and its own part, both encoded, and this tap's count of drops. */
  send(fields: Buffer, body: Buffer): void {
    if (this.closed) return;
    this.sink.write(joinTapEvent(fields, body, this.dropped));
  }

  /** A reported request's end event was sent: the tap ends once its limit is reached and all have ended. */
  ended(): void {
    this.inFlight--;
    if (this.admitted >= this.limit && this.inFlight === 0) this.finish('LIMIT');
  }

  /** The proxy ends the tap: a last `tap_end` event, then the end of the stream. */
  finish(reason: TapEnd['reason']): void {
    if (this.closed) return;
    this.sink.write(
      encodeTapEvent({
        proxyDirection: 'DIRECTION_UNSPECIFIED',
        source: {},
        destination: {},
        tls: false,
        requestId: '',
        route: '',
        dropped: this.dropped,
        tapEnd: { reason, matched: this.matched, dropped: this.dropped, message: this.summary(reason) },
      }),
    );
    this.close();
    this.sink.end();
  }

  /** The caller went away, or the tap finished: free the slot. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.hub.remove(this);
  }

  private summary(reason: TapEnd['reason']): string {
    const why = reason === 'LIMIT' ? `limit of ${this.limit} reached` : reason === 'DURATION' ? 'duration over' : 'proxy shutting down';
    if (this.matched === 0) return `no request matched the filter (${why})`;
    return `${this.admitted} requests reported, ${this.dropped} dropped by the rate cap of ${this.maxRps}/s or a slow reader (${why})`;
  }
}

export class TapHub {
  /** The open taps. Replaced, never mutated, so a request iterating it is never disturbed. */
  taps: readonly Tap[] = [];

  constructor(readonly limits: TapLimits = DEFAULT_TAP_LIMITS) {}

  /** Opens a tap; throws TapError TAP_TOO_MANY at the cap, TAP_BAD_MATCH for a malformed filter. */
  open(request: ObserveRequest, sink: TapSink): Tap {
    if (this.taps.length >= this.limits.maxTaps) {
      throw new TapError('TAP_TOO_MANY', `this proxy already serves ${this.taps.length} taps, its most at once (${this.limits.maxTaps}); try again when one ends`);
    }
    const tap = new Tap(request, this.limits, sink, this, this.limits.maxBacklog);
    this.taps = [...this.taps, tap];
    return tap;
  }

  remove(tap: Tap): void {
    this.taps = this.taps.filter((t) => t !== tap);
  }

  /** Shutdown: every tap gets its `tap_end` (SHUTDOWN). */
  close(): void {
    for (const tap of this.taps) tap.finish('SHUTDOWN');
  }
}

function clamp(asked: number | undefined, cap: number): number {
  return asked === undefined || asked <= 0 || asked > cap ? cap : Math.floor(asked);
}
