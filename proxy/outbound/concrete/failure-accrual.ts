// Failure accrual: after N consecutive failures an endpoint leaves the balancer; after a backoff
// (exponential, capped, jittered) one probe request is let through, and a success brings it back.

export interface FailureAccrualOptions {
  /** Consecutive failures that take an endpoint out (Linkerd's default: 7). */
  consecutiveFailures: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** 0..1: fraction of the backoff randomised, so endpoints do not all probe at once. */
  jitter: number;
}

export const DEFAULT_FAILURE_ACCRUAL: FailureAccrualOptions = {
  consecutiveFailures: 7,
  minBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  jitter: 0.5,
};

export type AccrualState = 'ready' | 'down' | 'probing';

export class FailureAccrual {
  private failures = 0;
  private backoffMs = 0;
  private downUntil = 0;
  private probing = false;

  constructor(
    private readonly opts: FailureAccrualOptions,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {}

  state(): AccrualState {
    if (this.backoffMs === 0) return 'ready';
    if (this.probing) return 'probing'; // one probe at a time is in flight
    return this.now() >= this.downUntil ? 'ready' : 'down';
  }

  /** True if this endpoint may take a request now; marks a probe in flight when it is out. */
  admit(): boolean {
    const s = this.state();
    if (s !== 'ready') return false;
    if (this.backoffMs > 0) this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.backoffMs = 0;
    this.probing = false;
  }

  /** Returns true when this failure took the endpoint out (or kept it out after a probe). */
  failure(): boolean {
    this.failures++;
    const wasProbe = this.probing;
    this.probing = false;
    if (!wasProbe && (this.backoffMs > 0 || this.failures < this.opts.consecutiveFailures)) return false;
    this.backoffMs = this.backoffMs === 0 ? this.opts.minBackoffMs : Math.min(this.opts.maxBackoffMs, this.backoffMs * 2);
    const jittered = this.backoffMs * (1 - this.opts.jitter * this.random());
    this.downUntil = this.now() + jittered;
    return true;
  }

  /** A probe whose result is unknown (cancelled): let another probe go. */
  abandon(): void {
    this.probing = false;
  }
}
