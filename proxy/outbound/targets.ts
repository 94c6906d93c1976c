// The outbound stack's per-target cache: one entry per authority, holding that target's stack and
// the discovery watch the stack reads, so the two live and die together. Bounded, because
// authorities come from untrusted requests; the least recently used target is dropped first,
// and dropping it releases its watch.
import { ProxyError } from '../errors.ts';
import type { Unsubscribe, Watched } from '../discovery/watched.ts';

/** A target's stack, and how to let go of the discovery watch it reads. */
export interface TargetEntry<T> {
  stack: T;
  release: Unsubscribe;
}

/**
 * `stack` holding `cell` open for as long as its cache entry lives. The destination client stops
 * a watch nobody subscribes to once it is idle, and a cached balancer or route table reads its
 * cell with get() alone (per request, no listener): without this subscription its view of the
 * target would silently freeze.
 */
export function watching<T, V>(cell: Watched<V>, stack: T): TargetEntry<T> {
  return { stack, release: cell.subscribe(() => {}) };
}

export class TargetCache<T> {
  private readonly entries = new Map<string, TargetEntry<T>>();
  /**
   * The most recently used key. Reordering costs a Map delete and insert, and nearly every
   * request names the same authority as the one before: then the order is already right.
   */
  private newest: string | undefined;

  constructor(
    private readonly max: number,
    private readonly build: (key: string) => TargetEntry<T>,
  ) {}

  get(key: string): T {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      if (key === this.newest) return hit.stack;
      // Move to the back: Map iteration order is insertion order, so the front is the eldest.
      this.entries.delete(key);
      this.entries.set(key, hit);
      this.newest = key;
      return hit.stack;
    }
    const built = this.build(key);
    this.entries.set(key, built);
    this.newest = key;
    if (this.entries.size > this.max) {
      const [eldest, entry] = this.entries.entries().next().value!;
      this.entries.delete(eldest);
      entry.release();
    }
    return built.stack;
  }

  /** Drops every entry and releases its watch (the proxy is shutting down). */
  close(): void {
    for (const entry of this.entries.values()) entry.release();
    this.entries.clear();
    this.newest = undefined;
  }
}

/** The port a scheme implies when an authority names none. */
export const DEFAULT_PORT = { http: 80, https: 443 } as const;

/**
 * normalizeAuthority remembering its last answer: the outbound router asks it for every request,
 * mostly with the same authority text as the request before (a regex, a match array, two new
 * strings saved). One per router, not a module global: each proxy keeps its own.
 */
export function lastAuthorityMemo(): (authority: string, scheme: 'http' | 'https') => string {
  let lastIn: string | undefined;
  let lastScheme: string | undefined;
  let lastOut = '';
  return (authority, scheme) => {
    if (authority === lastIn && scheme === lastScheme) return lastOut;
    const out = normalizeAuthority(authority, scheme); // throws for a bad one, which is not remembered
    [lastIn, lastScheme, lastOut] = [authority, scheme, out];
    return out;
  };
}

/**
 * `host[:port]` as the client named it -> lower-case `host:port`, the key discovery knows.
 * Throws BAD_REQUEST for anything that is not a plain authority.
 */
export function normalizeAuthority(authority: string, scheme: 'http' | 'https'): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(authority);
  const port = m?.[2] === undefined ? DEFAULT_PORT[scheme] : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new ProxyError('BAD_REQUEST', `authority "${authority.slice(0, 100)}" is not host[:port]`);
  }
  return `${m[1]!.toLowerCase()}:${port}`;
}
