// A value that changes over time, with listeners: how discovery hands live state to the proxy.
// The destination client updates cells from its gRPC streams; development mode from its YAML.

export type Unsubscribe = () => void;

export class Watched<T> {
  private value: T | undefined;
  private readonly listeners = new Set<(value: T) => void>();
  private waiters: Array<(value: T) => void> = [];

  constructor(initial?: T) {
    this.value = initial;
  }

  /** The latest value, or undefined if none has arrived yet. */
  get(): T | undefined {
    return this.value;
  }

  set(value: T): void {
    this.value = value;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(value);
    for (const listener of this.listeners) listener(value);
  }

  /** Calls `listener` on every change (not with the current value). */
  subscribe(listener: (value: T) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current value, or the first one to arrive; rejects after `timeoutMs` with none. */
  first(timeoutMs: number, what = 'value'): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`no ${what} after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (v: T) => {
        clearTimeout(timer);
        resolve(v);
      };
      this.waiters.push(done);
    });
  }
}
