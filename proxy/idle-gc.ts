// Gives the heap back when the proxy turns quiet: one full garbage collection once few requests arrive and the heap has grown since the last.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/**
 * A window with at most this many requests a second, on average, counts as quiet. The demo's
 * traffic generator sends 2 a second, so its proxies are quiet between bursts of `mesh load`;
 * under load V8 paces its own collections by allocation, and a full GC would only add a pause.
 */
const QUIET_REQUESTS_PER_SECOND = 10;
/**
 * Collect only once the heap (used or committed) has grown by this much since the last full
 * collection seen here: a proxy with nothing new to free is left alone, however long it idles.
 */
const GROWTH_BYTES = 1 << 20;

export interface IdleGcOptions {
  /** How often the proxy looks at its request count and its heap. */
  intervalMs: number;
  /** Requests started so far, both sides together (read once per interval). */
  requestsStarted: () => number;
  logger: Logger;
}

interface HeapSize {
  used: number;
  committed: number;
}

function heapSize(): HeapSize {
  const s = getHeapStatistics();
  return { used: s.used_heap_size, committed: s.total_heap_size };
}

let collectGarbage: (() => void) | undefined;

/**
 * V8's `gc()`: the one from the command line's `--expose-gc` if given, else made once. V8 installs
 * it in contexts created while the flag is set, so a small context made then holds it (~0.2 MB).
 */
function fullGc(): () => void {
  const given = (globalThis as { gc?: () => void }).gc;
  if (given) return given;
  if (!collectGarbage) {
    setFlagsFromString('--expose-gc');
    collectGarbage = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  }
  return collectGarbage;
}

/**
 * Why: after a burst of traffic V8 keeps the heap it grew (old-space pages with garbage on them
 * until the next full GC, which at a few requests a second may be minutes away), and its own
 * memory reducer starts again only once the committed heap grows by 10 MB since its last run.
 * Measured in bench/NOTES.md (round 5, memory).
 */
export class IdleGc {
  private timer: NodeJS.Timeout | undefined;
  private lastRequests = 0;
  private last: HeapSize = { used: 0, committed: 0 };
  /** Full collections made so far. */
  collections = 0;

  constructor(private readonly opts: IdleGcOptions) {}

  /** Looks every interval; the timer never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.lastRequests = this.opts.requestsStarted();
    this.last = heapSize();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const requests = this.opts.requestsStarted();
    const arrived = requests - this.lastRequests;
    this.lastRequests = requests;
    if (arrived > (QUIET_REQUESTS_PER_SECOND * this.opts.intervalMs) / 1000) return;
    const before = heapSize();
    if (before.used - this.last.used < GROWTH_BYTES && before.committed - this.last.committed < GROWTH_BYTES) {
      // V8 may have collected by itself since: what it left is the new reference.
      if (before.committed < this.last.committed) this.last = before;
      return;
    }
    const started = performance.now();
    fullGc()();
    const ms = performance.now() - started;
    this.last = heapSize();
    this.collections++;
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    this.opts.logger.debug(
      { requests: arrived, ms: Math.round(ms * 10) / 10, usedMb: [mb(before.used), mb(this.last.used)], committedMb: [mb(before.committed), mb(this.last.committed)] },
      'quiet: full GC',
    );
  }
}
