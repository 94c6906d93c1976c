// Linkerd's retry budget: requests that are not retries deposit over a sliding window of `ttl`,
// each retry withdraws, and a reserve of `minRetriesPerSecond * ttl` always remains.
import type { RetryBudget as RetryBudgetConfig } from '../../../api/destination-types.ts';

/** Linkerd's default when a ServiceProfile sets none. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetConfig = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

const SLOTS = 10; // window granularity: the oldest tenth of the window expires at a time

export class RetryBudget {
  private config: RetryBudgetConfig;
  private readonly deposits = new Array<number>(SLOTS).fill(0);
  private readonly withdrawals = new Array<number>(SLOTS).fill(0);
  private slotStart: number;
  private slot = 0;

  /** `now` is injectable so tests can step time deterministically. */
  constructor(config: RetryBudgetConfig = DEFAULT_RETRY_BUDGET, private readonly now: () => number = () => performance.now()) {
    this.config = config;
    this.slotStart = now();
  }

  /** A profile update may change the budget; the window's history is kept. */
  configure(config: RetryBudgetConfig): void {
    this.config = config;
  }

  /** A request that is not a retry. */
  deposit(): void {
    this.advance();
    this.deposits[this.slot]!++;
  }

  /** Takes one retry from the budget; false when none is left. */
  withdraw(): boolean {
    if (this.available() < 1) return false;
    this.withdrawals[this.slot]!++;
    return true;
  }

  /** Retries the budget would allow right now. */
  available(): number {
    this.advance();
    const { retryRatio, minRetriesPerSecond, ttlMs } = this.config;
    const reserve = minRetriesPerSecond * (ttlMs / 1000);
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    return reserve + retryRatio * sum(this.deposits) - sum(this.withdrawals);
  }

  private advance(): void {
    const slotMs = Math.max(1, this.config.ttlMs / SLOTS);
    const now = this.now();
    let steps = Math.floor((now - this.slotStart) / slotMs);
    if (steps <= 0) return;
    this.slotStart += steps * slotMs;
    steps = Math.min(steps, SLOTS);
    for (let i = 0; i < steps; i++) {
      this.slot = (this.slot + 1) % SLOTS;
      this.deposits[this.slot] = 0;
      this.withdrawals[this.slot] = 0;
    }
  }
}
