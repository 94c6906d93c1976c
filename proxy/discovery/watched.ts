// A value that changes over time, with listeners: how discovery hands live state to the proxy.
// The destination client updates cells from its gRPC streams; development mode from its YAML.

export type Unsubscribe = () => void;

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

export class Watched<T> {
  private value: T | undefined;
  /** Why no value can come for now (the source is unreachable); cleared by the next value. */
  private failure: Error | undefined;
  private readonly listeners = new Set<(value: T) => void>();
  private waiters: Array<Waiter<T>> = [];

  constructor(initial?: T) {
    this.value = initial;
  }

  /** The latest value, or undefined if none has arrived yet. */
  get(): T | undefined {
    return this.value;
  }

  set(value: T): void {
    this.value = value;
    this.failure = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve(value);
    for (const listener of this.listeners) listener(value);
  }

  /**
   * The source cannot answer for now (e.g. the destination is down) and this cell has never had
   * a value: waiters are told at once, and so is every first() until a value arrives, instead of
   * each waiting out its timeout for an answer that cannot come. A cell with a value keeps it.
   */
  fail(err: Error): void {
    if (this.value !== undefined) return;
    this.failure = err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** Calls `listener` on every change (not with the current value). */
  subscribe(listener: (value: T) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current value, or the first one to arrive; rejects after `timeoutMs` with none, or at once while the source is unreachable. */
  first(timeoutMs: number, what = 'value'): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    if (this.failure) return Promise.reject(new Error(`no ${what}: ${this.failure.message}`, { cause: this.failure }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${what} after ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter<T> = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(new Error(`no ${what}: ${err.message}`, { cause: err }));
        },
      };
      this.waiters.push(waiter);
    });
  }
}
