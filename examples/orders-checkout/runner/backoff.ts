// The kubelet's restart back-off (CrashLoopBackOff): 10 s before the first restart, doubling to
// at most 5 min, and back to 10 s once a container has run 10 min without failing.

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  /** A run at least this long counts as good: the next delay starts again from `initialMs`. */
  resetAfterMs: number;
}

/** Kubernetes's figures (kubelet: 10 s initial, 300 s cap, reset after 2 x cap = 10 min). */
export const KUBERNETES_BACKOFF: BackoffSettings = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/** One container's back-off: ask for the delay each time it exits. */
export class RestartBackoff {
  private nextMs: number;

  constructor(private readonly settings: BackoffSettings = KUBERNETES_BACKOFF) {
    this.nextMs = settings.initialMs;
  }

  /** The wait before restarting a container that ran for `ranMs`; each call doubles the next one. */
  delayAfter(ranMs: number): number {
    if (ranMs >= this.settings.resetAfterMs) this.nextMs = this.settings.initialMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.settings.maxMs);
    return delay;
  }
}
