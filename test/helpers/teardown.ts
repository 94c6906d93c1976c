// Tearing a test's parts down: every part is tried even when one fails to stop, and the failures
// come out together at the end, so a stop that failed is reported rather than hidden or leaving
// the other parts running.

export class StopFailures {
  private readonly errors: Error[] = [];

  /** Runs `stop`, keeping its failure, named by `what`, instead of throwing it. */
  async attempt(what: string, stop: () => unknown): Promise<void> {
    try {
      await stop();
    } catch (err) {
      this.errors.push(new Error(`${what} failed to stop: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }

  /** Throws every failure kept so far as one AggregateError (`whole` says of what), or nothing if none. */
  throwIfAny(whole: string): void {
    if (this.errors.length > 0) throw new AggregateError(this.errors, `${whole}: ${this.errors.map((e) => e.message).join('; ')}`);
  }
}
