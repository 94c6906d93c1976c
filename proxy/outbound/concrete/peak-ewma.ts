// Peak-EWMA latency estimate (Finagle, tower, Linkerd): a slower sample replaces the estimate at
// once, faster ones blend in with a decay of ~10 s, and an idle estimate decays toward zero so a
// once-slow endpoint is tried again.

/** Linkerd's defaults: decay 10 s; a new endpoint starts at 30 ms, neither trusted nor shunned. */
export const DEFAULT_DECAY_MS = 10_000;
export const DEFAULT_INITIAL_RTT_MS = 30;

export class PeakEwma {
  private estimateMs: number;
  private updatedAt: number;
  /** Requests sent and not yet finished. */
  pending = 0;

  constructor(
    private readonly now: () => number,
    private readonly decayMs = DEFAULT_DECAY_MS,
    initialMs = DEFAULT_INITIAL_RTT_MS,
  ) {
    this.estimateMs = initialMs;
    this.updatedAt = now();
  }

  /** Records one round-trip time (request sent to response headers). */
  observe(rttMs: number): void {
    const now = this.now();
    if (rttMs > this.estimateMs) {
      this.estimateMs = rttMs; // peak: react to a slowdown immediately
    } else {
      const w = Math.exp(-(now - this.updatedAt) / this.decayMs);
      this.estimateMs = this.estimateMs * w + rttMs * (1 - w);
    }
    this.updatedAt = now;
  }

  /** The balancer's cost: the decayed estimate times the load this request would join. */
  cost(): number {
    const idle = this.now() - this.updatedAt;
    const decayed = this.pending > 0 ? this.estimateMs : this.estimateMs * Math.exp(-idle / this.decayMs);
    return decayed * (this.pending + 1);
  }

  estimate(): number {
    return this.estimateMs;
  }
}
