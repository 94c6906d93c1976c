// Failure accrual: after N consecutive failures an endpoint leaves the balancer; after a backoff
// (exponential, capped, jittered) one probe request is let through, and a success brings it back.
import type { FailureAccrualPolicy } from '../../../api/destination-types.ts';

export type AccrualState = 'ready' | 'down' | 'probing';

export class FailureAccrual {
  private failures = 0;
  private backoffMs = 0;
  private downUntil = 0;
  private probing = false;

  constructor(
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

  /**
   * Counts a failure against `opts` (given per call: a Service's policy can change while its
   * endpoints keep their history). Returns true when it took the endpoint out (or kept it out after a probe).
   */
  failure(opts: FailureAccrualPolicy): boolean {
    this.failures++;
    const wasProbe = this.probing;
    this.probing = false;
    if (!wasProbe && (this.backoffMs > 0 || this.failures < opts.consecutiveFailures)) return false;
    this.backoffMs = this.backoffMs === 0 ? opts.minBackoffMs : Math.min(opts.maxBackoffMs, this.backoffMs * 2);
    const jittered = this.backoffMs * (1 - opts.jitter * this.random());
    this.downUntil = this.now() + jittered;
    return true;
  }

  /** A probe whose result is unknown (cancelled): let another probe go. */
  abandon(): void {
    this.probing = false;
  }
}
