// Keeps discovery watches live for the targets the outbound side has cached. The destination
// client stops a watch nobody subscribes to once it is idle; a cached balancer or route table
// reads its cell with get() alone, so without a subscriber its view would silently freeze.
// Bounded and least-recently-used like TargetCache: touch() here whenever the cache is read.
import type { Watched } from '../discovery/watched.ts';

export class WatchHolds {
  private readonly held = new Map<string, () => void>();
  /** The most recently touched key: touching it again changes nothing (see TargetCache). */
  private newest: string | undefined;

  constructor(private readonly max: number) {}

  /** Marks `key` as just used (same order as the TargetCache it shadows). */
  touch(key: string): void {
    if (key === this.newest) return;
    const release = this.held.get(key);
    if (!release) return;
    this.held.delete(key);
    this.held.set(key, release);
    this.newest = key;
  }

  /** Subscribes to `cell` for as long as `key` stays among the `max` most recently used. */
  hold<T>(key: string, cell: Watched<T>): void {
    this.held.get(key)?.();
    this.held.delete(key);
    this.held.set(key, cell.subscribe(() => {}));
    this.newest = key;
    if (this.held.size > this.max) {
      const [eldest, release] = this.held.entries().next().value!;
      release();
      this.held.delete(eldest);
    }
  }

  close(): void {
    for (const release of this.held.values()) release();
    this.held.clear();
  }
}
